"""The simulation layer: pybullet scenes, the render camera, the gripper and simulated cameras.

Layers, import arrows one way: the runtime :mod:`mtg_grasp_ros` (installed on the robot) <-
this package <- offline training (:mod:`training`) and the tools. The simulation may import
the runtime (camera model, transforms, grasp type) but never ``training`` or ``tools``; the
runtime never imports the simulation. Rotations here use ``scipy.spatial.transform`` (scipy is
a dependency of this layer and of training, never of the runtime).

Modules, one job each:

* :mod:`.objects`: the object catalogue (pybullet_data's ``random_urdfs`` or a folder), stable
  ids and the held-out rule;
* :mod:`.camera`: :class:`~simulation.camera.SimCamera`, the pinhole camera pybullet renders
  with (intrinsics, pose, OpenGL matrices, projection);
* :mod:`.scene`: :class:`~simulation.scene.Scene`, one pybullet world (physics constants, the
  table, loading, dropping and settling objects, looks, rendering);
* :mod:`.tabletop`: :class:`~simulation.tabletop.SimulatedScene`, held-out objects dropped into
  a camera's view with their ground truth (pose, mesh, footprint);
* :mod:`.poses`: image grasp rectangle <-> top-down gripper pose through a camera;
* :mod:`.gripper`: the simulated parallel-jaw gripper and its grasp trial;
* :mod:`.messages`: ROS messages of the simulated camera (Image, CameraInfo, ground truth);
* :mod:`.camera_node`: the simulated camera node (``python -m simulation.camera_node``);
* :mod:`.replay_camera`: pre-rendered frames at a fixed rate, for benchmarks
  (``python -m simulation.replay_camera``).

pybullet is imported only where a world is built (its import prints a banner).
"""
