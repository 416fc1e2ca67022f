"""The tools layer: the node demo and the benchmarks, run from a source checkout.

``python -m tools.demo`` (``make demo``), ``python -m tools.stage_benchmark`` and ``python -m
tools.ros_benchmark`` (``make benchmark``, ``make soak``) drive the runtime (:mod:`mtg_grasp_ros`)
against the simulation (:mod:`simulation`) in separate processes, as on a robot, and print what
they measure. They import the runtime and the simulation, never :mod:`training`, and nothing
imports them: colcon does not install this package on the robot. ``dds_image_probe.py`` and
``ort_spin_probe.py`` are stand-alone probes behind figures the README quotes.
"""
