"""The camera's pose in the target frame for each image: from tf2, or static from parameters.

Both sources answer ``lookup(target_frame, source_frame, stamp, timeout)`` with a
:class:`mtg_grasp_ros.transforms.RigidTransform` mapping points of the image's optical frame
(``source_frame``) into ``target_frame`` -- tf2's ``lookup_transform(target, source, time)``
convention -- and raise :class:`mtg_grasp_ros.transforms.MissingTransformError` (counted as
``no_transform``) when there is none. :func:`transform_source` picks one from the ``use_tf``
parameter.
"""

from __future__ import annotations

import threading
from typing import Union

from rclpy.node import Node

from mtg_grasp_ros.node_parameters import NodeParameters, StartupError
from mtg_grasp_ros.transforms import (MissingTransformError, RigidTransform, StaticTransform,
                                      TransformError)


class TfTransformSource:
    """Camera poses from tf2: a ``tf2_ros.Buffer`` filled by a ``tf2_ros.TransformListener`` on a
    node of its own, ``<node name>_tf_listener`` (the node's namespace and context), which a
    ``SingleThreadedExecutor`` spins in a thread of its own.

    The lookup is at the image's stamp (``builtin_interfaces/Time``), waiting up to ``timeout``
    seconds for the transform to arrive; /tf keeps arriving meanwhile (geometry2 #327). Not
    ``TransformListener(spin_thread=True)``: with the real tf2_ros that spins the node it is
    given (the grasp node, then spun by two executors at once: the listener thread died with
    "wait set index too big" when the node's subscriptions changed), and only in the default
    context (a node in another context failed to start). It listens to ``/tf`` and
    ``/tf_static`` (the node's command-line remappings do not apply to it).
    """

    def __init__(self, node: Node, tf2_ros) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self._tf2_ros = tf2_ros
        self.buffer = tf2_ros.Buffer()
        self.node = rclpy.create_node(
            f'{node.get_name()}_tf_listener', namespace=node.get_namespace(),
            context=node.context, use_global_arguments=False, start_parameter_services=False)
        self.listener = tf2_ros.TransformListener(self.buffer, self.node)
        self.executor = SingleThreadedExecutor(context=node.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self._spin, name='tf_listener', daemon=True)
        self.thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # shut down: ExternalShutdownException, or the context is gone
            pass

    def lookup(self, target_frame: str, source_frame: str, stamp, timeout: float
               ) -> RigidTransform:
        """``target_frame <- source_frame`` at ``stamp``; MissingTransformError if tf2 has none."""
        from rclpy.duration import Duration
        from rclpy.time import Time

        if target_frame == source_frame:
            return RigidTransform.identity()
        try:
            t = self.buffer.lookup_transform(target_frame, source_frame, Time.from_msg(stamp),
                                             timeout=Duration(seconds=timeout))
        except self._tf2_ros.TransformException as exc:
            raise MissingTransformError(
                f'no transform {target_frame!r} <- {source_frame!r} at the image stamp: '
                f'{exc}') from exc
        return RigidTransform.from_msg(t.transform)

    def close(self) -> None:
        """Stop the listener's thread, then destroy its node (before rclpy shuts down)."""
        try:
            self.executor.shutdown(timeout_sec=2.0)
        except Exception:
            pass
        if self.thread is not threading.current_thread():
            self.thread.join(timeout=5.0)
        try:
            self.node.destroy_node()
        except Exception:
            pass


class StaticTransformSource:
    """The camera pose from the camera_pose.* parameters (no TF); ``stamp`` is ignored."""

    def __init__(self, static: StaticTransform) -> None:
        self.static = static

    def lookup(self, target_frame: str, source_frame: str, stamp, timeout: float
               ) -> RigidTransform:
        """The static pose; MissingTransformError for an image from another camera frame."""
        if target_frame == source_frame:
            return RigidTransform.identity()
        return self.static.lookup(source_frame)

    def close(self) -> None:
        """Nothing to release."""


TransformSource = Union[TfTransformSource, StaticTransformSource]


def import_tf2_ros():
    """tf2_ros, or None when it is not installed (e.g. PyPI-only ROS wheels)."""
    try:
        import tf2_ros
    except Exception:
        return None
    return tf2_ros


def transform_source(node: Node, params: NodeParameters) -> TransformSource:
    """The source ``use_tf`` asks for, logged on ``node``: tf2 (``true``, or ``auto`` when
    tf2_ros imports), else the static ``camera_pose.*`` for ``target_frame`` <-
    ``camera_frame``. Raises :class:`StartupError` for ``use_tf: true`` without tf2_ros and for
    an invalid static pose."""
    mode = params.use_tf
    tf2_ros = import_tf2_ros() if mode in ('auto', 'true') else None
    if mode == 'true' and tf2_ros is None:
        raise StartupError('use_tf is true but tf2_ros cannot be imported; install '
                           'ros-$ROS_DISTRO-tf2-ros or set use_tf: false and camera_pose.*')
    if tf2_ros is not None:
        source = TfTransformSource(node, tf2_ros)
        node.get_logger().info(f'camera pose from TF (timeout {params.tf_timeout} s)')
        return source
    pose = params.camera_pose
    try:
        static = StaticTransform.from_parameters(
            params.target_frame, params.camera_frame, pose.xyz, rpy=pose.rpy,
            quaternion=pose.quaternion)
    except TransformError as exc:
        raise StartupError(f'invalid camera_pose parameters: {exc}') from exc
    why = 'use_tf is false' if mode == 'false' else 'tf2_ros is not importable'
    node.get_logger().warning(
        f'{why}: using the static camera pose from the parameters camera_pose.* '
        f'(xyz {list(pose.xyz)}) for {params.target_frame!r} <- '
        f'{params.camera_frame or "the image frame"}')
    return StaticTransformSource(static)
