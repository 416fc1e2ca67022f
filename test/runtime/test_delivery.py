"""Missed-frame counting from DDS publication sequence numbers."""

from mtg_grasp_ros.delivery import DeliveryGaps, message_info_supported


def info(sequence, gid=b'camera'):
    return {'publication_sequence_number': sequence, 'publisher_gid': {'data': gid}}


def test_gaps_per_publisher_and_restarts():
    gaps = DeliveryGaps()
    assert [gaps.update(info(s)) for s in (1, 2, 5, 6, 10)] == [0, 0, 2, 0, 3]
    assert gaps.update(info(7, gid=b'other')) == 0      # another publisher: its own count
    assert gaps.update(info(9, gid=b'other')) == 1
    assert gaps.update(info(1)) == 0                    # the camera restarted
    assert gaps.update(info(3)) == 1
    assert gaps.missed == 7


def test_no_information_counts_nothing():
    gaps = DeliveryGaps()
    for item in (None, {}, {'publication_sequence_number': None}, info(0), info(4), info(9)):
        gaps.update(item)
    assert gaps.missed == 4  # only 4 -> 9 is a known gap


def test_this_rclpy_passes_message_info():
    # The PyPI wheels are Kilted; Humble would return False and the node counts no gaps.
    assert message_info_supported()


def test_localhost_discovery_with_large_data_is_warned_about():
    from mtg_grasp_ros.delivery import transport_warning

    both = {'FASTDDS_BUILTIN_TRANSPORTS': 'LARGE_DATA',
            'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST'}
    assert 'ROS_AUTOMATIC_DISCOVERY_RANGE' in transport_warning(both)
    assert transport_warning({'FASTDDS_BUILTIN_TRANSPORTS': 'LARGE_DATA'}) is None
    assert transport_warning({'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST'}) is None
    assert transport_warning({**both, 'RMW_IMPLEMENTATION': 'rmw_cyclonedds_cpp'}) is None
