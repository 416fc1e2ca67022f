"""ROS 2 node ``grasp_detection_node``: camera images in, grasp poses in the robot's frame out.

A managed (lifecycle) node around :class:`mtg_grasp_ros.pipeline.GraspPipeline`. Its parts
live beside it: parameters in :mod:`mtg_grasp_ros.node_parameters`, subscriptions, QoS,
CameraInfo and depth in :mod:`mtg_grasp_ros.node_inputs`, the newest-frame worker thread in
:mod:`mtg_grasp_ros.frame_worker`, the camera pose in :mod:`mtg_grasp_ros.transform_sources`,
the output publishers in :mod:`mtg_grasp_ros.node_outputs`, counters in
:mod:`mtg_grasp_ros.node_statistics`. README.md, "The ROS 2 node", documents topics,
parameters, states and conventions. In short:

* lifecycle (``rclpy.lifecycle``): **configure** reads the parameters, loads the model and runs
  it once (a bad model fails the transition with one clear error line); **activate** subscribes
  ``image``, ``camera_info`` and -- only with ``depth_source: depth_topic`` -- ``depth`` and
  enables the outputs; **deactivate** unsubscribes, waits for the frame in progress and keeps
  the warm model; **cleanup** and **shutdown** free it. With ``autostart`` (the default: the
  plain executable and the launch file) the node configures and activates itself;
* publishes ``~/grasp_pose`` (PoseStamped), ``~/grasp`` (Float32MultiArray),
  ``~/detections`` (vision_msgs/Detection3DArray, where vision_msgs imports), ``~/grasps``
  (PoseArray, superseded), ``~/markers`` and ``~/debug_image`` (only while subscribed), all
  stamped with the image's stamp, in ``target_frame``; ``/diagnostics`` in every state;
* newest frame only (:mod:`mtg_grasp_ros.frame_worker`): frames replaced before the worker took
  them are counted ``superseded``; frames the camera sent that never reached the callback are
  counted ``missed`` from DDS sequence numbers where rclpy provides them;
* live parameters (:data:`mtg_grasp_ros.node_parameters.LIVE_PARAMETERS`) are checked by the
  parameter table in an on-set callback (a bad value is refused with the reason) and swapped in
  as one immutable ``(NodeParameters, PipelineConfig)`` pair that the worker picks up at the
  start of its next frame;
* every per-frame failure is caught, counted by reason and logged (throttled per reason); the
  node never dies on a bad message.
"""

from __future__ import annotations

import math
import os
import sys
import time
from typing import Dict, Optional

from rcl_interfaces.msg import SetParametersResult
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import CameraInfo, Image

from mtg_grasp_ros.delivery import DeliveryGaps, message_info_supported, transport_warning
from mtg_grasp_ros.frame_processor import FrameProcessor
from mtg_grasp_ros.frame_worker import FrameWorker
from mtg_grasp_ros.grasp_messages import VISION_MSGS_MISSING
from mtg_grasp_ros.node_inputs import InputSubscriptions, steady_clock
from mtg_grasp_ros.node_parameters import (declare_parameters, NodeParameters, PARAMETER_NAMES,
                                           read_parameters, StartupError, updated_parameters)
from mtg_grasp_ros.node_statistics import FrameStatistics
from mtg_grasp_ros.pipeline import describe_exception, PipelineConfigError
from mtg_grasp_ros.shutdown import shut_down

NODE_NAME = 'grasp_detection'
#: Input topics (relative: remap them); ``depth`` only with ``depth_source: depth_topic``.
INPUT_TOPICS = ('image', 'camera_info', 'depth')
LOG_THROTTLE_S = 5.0
#: Deactivate waits at most this long (s) for the frame in progress.
DEACTIVATE_WAIT_S = 10.0
SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE

__all__ = ['GraspDetectionNode', 'INPUT_TOPICS', 'main', 'NODE_NAME', 'StartupError']


class GraspDetectionNode(LifecycleNode):
    """See the module docstring; ``**kwargs`` go to :class:`rclpy.lifecycle.LifecycleNode`.

    ``autostart``: configure and activate in the constructor (None: the ``autostart``
    parameter). Raises :class:`StartupError` (after destroying itself) when a parameter is
    invalid or, autostarting, when configure or activate fails.
    """

    def __init__(self, node_name: str = NODE_NAME, *, autostart: Optional[bool] = None,
                 **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        self.stats = FrameStatistics()
        self.lifecycle_state = 'unconfigured'
        self.configure_error: Optional[str] = None
        #: The configured resources (model, TF, caches, outputs); None while unconfigured.
        self.processor: Optional[FrameProcessor] = None
        self._last_log: Dict[str, float] = {}
        self._active = False
        self._quiet = False
        self._said_no_vision_msgs = False
        self._inputs = self._stats_timer = self._updater = None
        self.subs: Dict[str, object] = {}
        try:
            declare_parameters(self)
        except StartupError:
            super().destroy_node()
            raise
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.frames = FrameWorker(self._process, self._on_frame_error)
        self._start_stats_timer(float(self.get_parameter('stats_period').value))
        self._setup_diagnostics()
        if autostart is None:
            autostart = bool(self.get_parameter('autostart').value)
        if autostart:
            self._autostart()
        else:
            self.get_logger().info('unconfigured (autostart false): waiting for the configure '
                                   'transition (ros2 lifecycle set ... configure)')

    @property
    def params(self) -> NodeParameters:
        """The parameters in use (configured: with the newest live values)."""
        return self.processor.settings[0]

    def _autostart(self) -> None:
        self._quiet = True  # the error is raised (main logs it once), not logged here too
        try:
            if self.trigger_configure() != SUCCESS:
                raise StartupError(self.configure_error or 'configure failed')
            if self.trigger_activate() != SUCCESS:
                raise StartupError(self.configure_error or 'activate failed')
        except StartupError:
            self.destroy_node()
            raise
        finally:
            self._quiet = False

    # ---------------------------------------------------------------- lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Read the parameters, load and warm the model, create the outputs; FAILURE (one
        error line, no traceback) when a parameter or the model is bad."""
        try:
            self._configure()
        except Exception as exc:  # StartupError: the reason; anything else: its type too
            self._release()
            self.configure_error = (str(exc) if isinstance(exc, StartupError)
                                    else f'{type(exc).__name__}: {exc}')
            if not self._quiet:
                self.get_logger().error(f'configure failed: {self.configure_error}')
            return FAILURE
        self.configure_error = None
        self.lifecycle_state = 'inactive'
        self.get_logger().info(f'configured (inactive): model {self.processor.model_path} '
                               f'loaded and warmed up')
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Enable the outputs, then subscribe to the inputs."""
        result = super().on_activate(state)
        processor = self.processor
        if processor.tracker is not None:
            processor.tracker.reset()
        self._gaps = DeliveryGaps()
        image, camera_info, depth = INPUT_TOPICS
        on_image = self._on_image_with_info if message_info_supported() else self._on_image
        topics = {camera_info: (CameraInfo, processor.camera_info.update),
                  image: (Image, on_image)}
        if self.params.depth_source == 'depth_topic':
            topics[depth] = (Image, processor.depth.add)
        self._active = True
        self._inputs = InputSubscriptions(self, topics, self.params.reliability,
                                          self.params.qos_depth, self._warn)
        self.subs = self._inputs.subs
        self.lifecycle_state = 'active'
        self.get_logger().info(
            f'ready: {processor.pipeline.describe()}; model {processor.model_path}; target frame '
            f'{self.params.target_frame or "(camera frame)"}; depth source '
            f'{self.params.depth_source}; image conversion NumPy (validated; README "Image '
            f'conversion")')
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Unsubscribe, drop the waiting frame, wait for the one in progress, then disable the
        outputs; the model stays loaded."""
        self._stop_inputs()
        self.lifecycle_state = 'inactive'
        self.get_logger().info('deactivated: not subscribed, the model stays loaded')
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Free the model and the outputs (back to unconfigured)."""
        self._release()
        self.lifecycle_state = 'unconfigured'
        self.get_logger().info('cleaned up: model freed')
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """From any state: stop the inputs and free everything (finalized)."""
        self._stop_inputs()
        self._release()
        self.lifecycle_state = 'finalized'
        return super().on_shutdown(state)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """A transition raised: free everything and go back to unconfigured."""
        self._stop_inputs()
        self._release()
        self.lifecycle_state = 'unconfigured'
        return super().on_error(state)

    def _configure(self) -> None:
        params = read_parameters(lambda name: self.get_parameter(name).value)
        try:
            config = params.pipeline_config()
        except (PipelineConfigError, TypeError, ValueError) as exc:
            raise StartupError(f'invalid parameters: {exc}') from exc
        self.processor = FrameProcessor(
            self, params, config, INPUT_TOPICS[1:], self.stats,
            lambda: self.get_clock().now().nanoseconds * 1e-9)
        if not self.processor.outputs.has_detections and not self._said_no_vision_msgs:
            self._said_no_vision_msgs = True
            self.get_logger().warning(VISION_MSGS_MISSING)
        for warning in (transport_warning(os.environ), params.approach_note):
            if warning:
                self.get_logger().warning(warning)

    def _stop_inputs(self) -> None:
        """No frame published after this returns (bounded wait for the one in progress)."""
        self._active = False
        if self._inputs is not None:
            self._inputs.close()
            self._inputs = None
        self.subs = {}
        self.frames.discard()
        if not self.frames.wait_idle(DEACTIVATE_WAIT_S):
            self.get_logger().warning('the frame in progress did not finish in time')

    def _release(self) -> None:
        """Free the model, the outputs and the TF listener (idempotent)."""
        processor, self.processor = self.processor, None
        if processor is not None:
            processor.close()

    # ---------------------------------------------------------------- parameters
    def _on_set_parameters(self, parameters) -> SetParametersResult:
        """Check live changes with the parameter table; swap them in for the next frame."""
        changes = {p.name: p.value for p in parameters if p.name in PARAMETER_NAMES}
        if not changes:
            return SetParametersResult(successful=True)
        try:
            params = updated_parameters(lambda name: self.get_parameter(name).value, changes)
        except StartupError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        processor = self.processor
        if processor is not None:  # one reference, read by the worker at its next frame
            processor.settings = (params, params.pipeline_config())
        if 'stats_period' in changes:
            self._start_stats_timer(params.stats_period)
        self.get_logger().info('parameters changed (from the next frame): ' + ', '.join(
            f'{k} = {v!r}' for k, v in changes.items()))
        return SetParametersResult(successful=True)

    def _start_stats_timer(self, period: float) -> None:
        if self._stats_timer is not None:
            self.destroy_timer(self._stats_timer)
            self._stats_timer = None
        if period > 0:
            self._stats_timer = self.create_timer(period, self._log_statistics,
                                                  clock=steady_clock())

    # ---------------------------------------------------------------- frames
    def _on_image(self, msg: Image) -> None:
        if self._active:
            self.stats.count_received(self.frames.offer(msg))

    def _on_image_with_info(self, msg: Image, info) -> None:
        """Iron and later: the message info numbers the camera's frames (see delivery.py)."""
        self.stats.count_missed(self._gaps.update(info))
        source = info.get('source_timestamp') if info else None
        if source:
            self.stats.add_time('transport', max(0.0, time.time() - source * 1e-9))
        self._on_image(msg)

    def _on_frame_error(self, exc: Exception) -> bool:
        if not self.context.ok():  # shut down (Ctrl-C) mid-frame: nothing to publish to
            return False
        reason, text = describe_exception(exc)
        count = self.stats.drop(reason)
        self._warn(reason, f'frame skipped ({reason}, {count} so far): {text}')
        return True

    def _process(self, msg: Image, received: float) -> None:
        processor = self.processor
        if not self._active or processor is None:
            self.stats.drop('inactive')
            return
        processor.process(msg, received)

    # ---------------------------------------------------------------- logs, diagnostics
    def _warn(self, key: str, text: str) -> None:
        """A warning, at most one per LOG_THROTTLE_S for each ``key``."""
        now = time.monotonic()
        if now - self._last_log.get(key, -math.inf) >= LOG_THROTTLE_S:
            self._last_log[key] = now
            self.get_logger().warning(text)

    def _log_statistics(self) -> None:
        self.get_logger().info(self.stats.summary())

    def _setup_diagnostics(self) -> None:
        try:
            import diagnostic_updater
        except Exception:
            return
        try:
            self._updater = diagnostic_updater.Updater(self)
            self._updater.setHardwareID('grasp_detection')
            self._updater.add('grasp detection', self._diagnose)
        except Exception as exc:
            self.get_logger().warning(f'diagnostics disabled: {exc}')
            self._updater = None

    def _diagnose(self, stat):
        """The ``grasp detection`` status: the lifecycle state, then the counters."""
        period = float(self.get_parameter('stats_period').value)
        self.stats.diagnose(stat, period, self.lifecycle_state, self.configure_error)
        processor = self.processor
        stat.add('detections', 'published' if processor is not None
                 and processor.outputs.has_detections else (
                     'not published: vision_msgs is not installed'
                     if self._said_no_vision_msgs else 'not configured'))
        return stat

    # ---------------------------------------------------------------- shutdown
    def destroy_node(self) -> None:
        """Stop the inputs and the worker thread, free the model, destroy the node."""
        self._stop_inputs()
        self.frames.stop()
        self._release()
        super().destroy_node()


def main(args=None) -> int:
    """Console script ``grasp_detection_node``; returns the exit code (1: start-up failed)."""
    rclpy.init(args=args)
    node, code = None, 0
    try:
        node = GraspDetectionNode()
        rclpy.spin(node)
    except StartupError as exc:
        rclpy.logging.get_logger(NODE_NAME).fatal(f'cannot start: {exc}')
        code = 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RuntimeError:
        # rclpy's executor can fail inside a take from a subscription that the shutdown (a
        # SIGINT) is tearing down ("Unable to convert call argument '0' to Python object",
        # seen once in `make demo`): after shutdown that is the end, not an error.
        if rclpy.ok():
            raise
    finally:
        shut_down(node)   # a second SIGINT (Ctrl-C of ros2 launch) ignored meanwhile
    return code


if __name__ == '__main__':
    sys.exit(main())
