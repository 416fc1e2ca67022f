"""Frames a publisher sent that never reached the node, from DDS sequence numbers (ROS-free).

The image subscription keeps one frame (keep-last 1): when the node's executor is slower than
the camera, DDS replaces the waiting frame with the next one before the callback ever sees it,
and a best-effort transport can lose frames outright. Neither reaches the node's callback, so
counting callbacks undercounts the drops. Since Iron, rclpy hands a subscription callback with
two parameters the ``MessageInfo`` of each message, whose ``publication_sequence_number``
(per publisher, consecutive) reveals every gap. Humble has no message info: there the count
stays 0 and the node says so.
"""

from __future__ import annotations

from typing import Any, Dict, Hashable, Mapping, Optional

#: Measured here (two processes, 640x480 rgb8 at 60 Hz, ``tools/dds_image_probe.py``): with
#: ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``, rmw_fastrtps talks UDP on localhost instead of
#: the LARGE_DATA transports, so LARGE_DATA's fix for large images is silently gone.
LOCALHOST_VS_LARGE_DATA = (
    'FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA is set together with '
    'ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST: rmw_fastrtps then uses UDP on localhost and camera '
    'images arrive late (measured: 11.9 instead of 2.0 ms) or, best-effort, hardly at all. '
    'In the environments of this node and of the camera driver, unset '
    'ROS_AUTOMATIC_DISCOVERY_RANGE (isolate with ROS_DOMAIN_ID), or keep it and replace '
    'LARGE_DATA by a shared-memory Fast DDS profile (README.md, "QoS and DDS transport").')


def transport_warning(environ: Mapping[str, str]) -> Optional[str]:
    """A start-up warning for DDS settings that defeat each other, else None."""
    large_data = environ.get('FASTDDS_BUILTIN_TRANSPORTS', '').upper() == 'LARGE_DATA'
    localhost = environ.get('ROS_AUTOMATIC_DISCOVERY_RANGE', '').upper() == 'LOCALHOST'
    rmw = environ.get('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp')
    return LOCALHOST_VS_LARGE_DATA if large_data and localhost and 'fastrtps' in rmw else None


def message_info_supported() -> bool:
    """True when this rclpy passes ``MessageInfo`` to two-parameter subscription callbacks."""
    try:
        from rclpy.subscription import Subscription
    except ImportError:
        return False
    return hasattr(Subscription, 'CallbackType')


class DeliveryGaps:
    """Counts sequence-number gaps per publisher; not thread-safe (one executor callback)."""

    def __init__(self) -> None:
        self.missed = 0
        self._last: Dict[Hashable, int] = {}

    def update(self, info: Optional[Mapping[str, Any]]) -> int:
        """Account for one received message; returns how many frames it reveals as missed."""
        if not info:
            return 0
        sequence = info.get('publication_sequence_number')
        if not isinstance(sequence, int) or sequence <= 0:
            return 0  # this middleware does not number its samples
        gid = info.get('publisher_gid') or {}
        key = bytes(gid.get('data', b'')) if isinstance(gid, Mapping) else repr(gid)
        last = self._last.get(key)
        self._last[key] = sequence
        if last is None or sequence <= last:  # first message, or the publisher restarted
            return 0
        gap = sequence - last - 1
        self.missed += gap
        return gap
