"""An animated GIF of one closed-loop trial: the wrist view beside a third-person view.

:class:`TrialRecorder` is an ``observer`` of :func:`simulation.closed_loop.run_trial`: every
``1 / fps`` s of simulated time it renders the wrist camera's view (the servo's current target
drawn as its jaws, red) and a fixed third-person view of the table (the same jaws, and the
rig's invisible fingers drawn as grey bars at their real opening), labels them with the time
and the servo's state and keeps the pair; :meth:`TrialRecorder.save` writes them as a looping
GIF (Pillow). Rendering for the GIF does not step the physics, so a recorded trial ends as an
unrecorded one. World frame ``base_link``, metres.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import List, Optional

import cv2
import numpy as np

from simulation.camera import SimCamera
from simulation.gripper import FINGER_LENGTH, FINGER_THICKNESS

JAW_COLOUR = (230, 30, 30)        # RGB
FINGER_COLOUR = (90, 90, 90)
TEXT_COLOUR = (20, 20, 20)


def jaw_pixels(camera: SimCamera, target) -> Optional[List[tuple]]:
    """The image points (u, v) of a :class:`~simulation.servo.GraspTarget`'s two jaw contacts
    (its centre +- half its opening along the closing axis), or None without a target or
    behind the camera."""
    if target is None:
        return None
    half = 0.5 * target.opening * np.array([math.cos(target.yaw), math.sin(target.yaw), 0.0])
    u, v, z = camera.project(np.stack([target.position - half, target.position + half]))
    if (z <= 0).any():
        return None
    return [(int(round(a)), int(round(b))) for a, b in zip(u, v)]


def draw_jaws(image: np.ndarray, camera: SimCamera, target, colour=JAW_COLOUR) -> np.ndarray:
    """``image`` (H, W, 3, drawn in place) with the target's jaws as a line and two dots."""
    points = jaw_pixels(camera, target)
    if points is not None:
        cv2.line(image, points[0], points[1], colour, 2)
        for point in points:
            cv2.circle(image, point, 3, colour, -1)
    return image


def side_camera(centre, size: int = 240) -> SimCamera:
    """A third-person camera looking at ``centre`` (m, world) from the front right, above."""
    centre = np.asarray(centre, dtype=np.float64)
    look = centre + np.array([0.0, 0.0, 0.16])
    return SimCamera.look_at(look + np.array([0.40, -0.35, 0.22]), look, (0.0, 0.0, 1.0),
                             size=size, fov_deg=50.0, near=0.05, far=3.0)


class TrialRecorder:
    """Observer of a trial (module docstring). ``fps``: recorded frames per simulated second;
    ``side_size``: the third-person view's side (px; the wrist view keeps the rig's size)."""

    def __init__(self, fps: float = 10.0, side_size: int = 240) -> None:
        if not fps > 0:
            raise ValueError(f'fps must be > 0, got {fps}')
        self.fps, self.side_size = float(fps), int(side_size)
        self.frames: List[np.ndarray] = []
        self._next = 0.0
        self._side: Optional[SimCamera] = None
        self._state = None

    def __call__(self, rig, servo) -> None:
        changed = servo.state is not self._state
        if rig.time < self._next - 1e-9 and not changed:
            return
        self._next = rig.time + 1.0 / self.fps
        self._state = servo.state
        if self._side is None:
            self._side = side_camera([*rig.scene.objects[0].centre, 0.0], self.side_size)
        frame = rig.render()
        wrist = draw_jaws(frame.rgb.copy(), frame.camera, servo.target)
        side = rig.scene.world.render(self._side, rig.scene.light).rgb.copy()
        self._draw_fingers(side, rig)
        draw_jaws(side, self._side, servo.target)
        label = f't={rig.time:4.1f} s  {servo.state.value}'
        cv2.putText(wrist, 'wrist camera', (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    TEXT_COLOUR, 1, cv2.LINE_AA)
        cv2.putText(side, label, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, TEXT_COLOUR, 1,
                    cv2.LINE_AA)
        height = max(wrist.shape[0], side.shape[0])
        self.frames.append(np.concatenate([_pad(wrist, height), _pad(side, height)], axis=1))

    def _draw_fingers(self, image: np.ndarray, rig) -> None:
        """The two fingers (tip to FINGER_LENGTH above) and the palm, projected."""
        axis = np.array([math.cos(rig.yaw), math.sin(rig.yaw), 0.0])
        offset = 0.5 * (rig.gripper.opening() + FINGER_THICKNESS)
        up = np.array([0.0, 0.0, FINGER_LENGTH])
        tips = [rig.position - offset * axis, rig.position + offset * axis]
        points = np.stack([tips[0], tips[0] + up, tips[1], tips[1] + up])
        u, v, z = self._side.project(points)
        if (z <= 0).any():
            return
        px = [(int(round(a)), int(round(b))) for a, b in zip(u, v)]
        for a, b in ((0, 1), (2, 3), (1, 3)):
            cv2.line(image, px[a], px[b], FINGER_COLOUR, 4)

    def save(self, path: Path, hold: float = 1.0) -> Path:
        """Write the frames as a looping GIF (each shown 1 / fps s, the last ``hold`` s more);
        ValueError when nothing was recorded. Returns ``path``."""
        from PIL import Image

        if not self.frames:
            raise ValueError('no frames recorded')
        images = [Image.fromarray(f).quantize(colors=64, dither=Image.Dither.NONE)
                  for f in self.frames]
        period = int(round(1000.0 / self.fps))
        durations = [period] * (len(images) - 1) + [period + int(round(1000.0 * hold))]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        images[0].save(path, save_all=True, append_images=images[1:], duration=durations,
                       loop=0, optimize=True)
        return path


def _pad(image: np.ndarray, height: int) -> np.ndarray:
    """``image`` padded with white rows at the bottom to ``height``."""
    missing = height - image.shape[0]
    if missing <= 0:
        return image
    return np.concatenate([image, np.full((missing, *image.shape[1:]), 255, image.dtype)])
