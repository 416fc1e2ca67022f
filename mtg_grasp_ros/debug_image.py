"""The node's ``~/debug_image``: the network's input crop under its quality heat-map, grasps drawn.

Drawn with OpenCV in the network's input pixels (the square crop the model saw, not the camera
image), so what the network got and what it answered are seen together.
"""

from __future__ import annotations

from typing import Optional, TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:  # pragma: no cover - annotations only
    from mtg_grasp_ros.pipeline import FrameResult


def render_debug_image(result: FrameResult) -> Optional[np.ndarray]:
    """RGB uint8 image (S, S, 3) of a frame processed with ``want_maps=True``.

    The crop is blended 50/50 with the smoothed quality map (clipped to [0, 1], OpenCV's
    ``COLORMAP_JET``); each grasp above ``min_quality`` is drawn as its rectangle (jaw size x
    opening, the closing axis along the long side) and centre, the best green, the others
    yellow. Returns None without maps (``want_maps=False``).
    """
    if result.maps is None or result.network_image is None:
        return None
    image = np.ascontiguousarray(result.network_image, dtype=np.uint8)
    quality = np.clip(np.nan_to_num(result.maps.quality), 0.0, 1.0)
    heat = cv2.applyColorMap((quality * 255).astype(np.uint8), cv2.COLORMAP_JET)[:, :, ::-1]
    if heat.shape[:2] != image.shape[:2]:
        heat = cv2.resize(heat, (image.shape[1], image.shape[0]))
    overlay = cv2.addWeighted(image, 0.5, np.ascontiguousarray(heat), 0.5, 0.0)
    for i, g in reversed(list(enumerate(result.network_grasps))):
        corners = np.round(g.corners()[:, ::-1]).astype(np.int32)  # (row, col) -> (x, y)
        colour = (0, 255, 0) if i == 0 else (255, 255, 0)
        cv2.polylines(overlay, [corners.reshape(-1, 1, 2)], True, colour, 2 if i == 0 else 1)
        cv2.circle(overlay, (int(round(g.col)), int(round(g.row))), 2, colour, -1)
    return overlay
