"""ament_python setup: installs the runtime package `mtg_grasp_ros` only.

The simulation (`simulation/`), offline training (`training/`) and the tools (`tools/`: demo
driver, benchmarks) are repository layers for a workstation; they are never installed on the
robot (docs/architecture.md; test/test_layers.py checks what colcon installs).
"""

from glob import glob

from setuptools import setup

PACKAGE = 'mtg_grasp_ros'

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=[PACKAGE],
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml', 'LICENSE']),
        (f'share/{PACKAGE}/launch', glob('launch/*.launch.py')),
        (f'share/{PACKAGE}/config', glob('config/*.yaml') + glob('config/*.xml')
         + glob('config/*.rviz')),
        (f'share/{PACKAGE}/models', glob('models/*.json') + glob('models/*.safetensors')
         + glob('models/*.onnx') + glob('models/*.md')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='mtg_grasp_ros maintainers',
    maintainer_email='maintainers@mtg-grasp-ros.invalid',
    description='Real-time MTG-CNN grasp detection from a monocular RGB camera for ROS 2',
    license='Apache-2.0',
    # colcon test runs pytest (not unittest) when pytest is a test extra; setuptools ignores
    # the old tests_require.
    extras_require={'test': ['pytest']},
    entry_points={'console_scripts': [
        'grasp_detection_node = mtg_grasp_ros.grasp_node:main',
    ]},
)
