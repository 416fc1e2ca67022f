"""The node's status on ``/diagnostics`` through the REAL diagnostic_updater: WARN before any
image, OK with the exact counters once grasps are published, the drop reasons and the latency
windows as values (what the ROS benchmark reads: tools/child_metrics.diagnostic_entry). Skips
where diagnostic_updater is not installed (PyPI wheels alone; CI builds it from
../shared/ros-extras, ``make ros-extras``)."""

from node_harness import image_msg, info_msg
import pytest

diagnostic_updater = pytest.importorskip(
    'diagnostic_updater', reason='diagnostic_updater is not installed (no PyPI wheel): a ROS 2 '
                                 'install has it; CI builds it from ../shared/ros-extras '
                                 '(make ros-extras)')
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402, I100, I202

from tools.child_metrics import diagnostic_entry  # noqa: E402

WAIT = 15.0
STATUS = 'grasp_detection: grasp detection'


def record_diagnostics(h):
    """The node's statuses as they arrive on /diagnostics: a list of DiagnosticStatus."""
    statuses = []

    def on_array(msg):
        statuses.extend(s for s in msg.status if s.name == STATUS)
    h.tester.create_subscription(DiagnosticArray, '/diagnostics', on_array, 10)
    return statuses


def values(status):
    return {kv.key: kv.value for kv in status.values}


def test_diagnostics_carry_status_and_counters(harness):
    h = harness()
    assert isinstance(h.node._updater, diagnostic_updater.Updater)
    statuses = record_diagnostics(h)
    h.wait_connected()
    assert h.spin_until(lambda: statuses, timeout=WAIT), 'no status on /diagnostics'
    first = statuses[-1]
    assert first.level == DiagnosticStatus.WARN and 'no images' in first.message
    assert first.hardware_id == 'grasp_detection'
    assert values(first)['frames_in'] == '0'

    h.send(None, info_msg())
    for sec in (1, 2, 3):
        h.image_pub.publish(image_msg(stamp=(sec, 0)))
        h.wait_handled(sec)
    h.image_pub.publish(image_msg(encoding='yuv422', stamp=(4, 0)))   # a bad frame
    h.wait_handled(4)
    assert h.spin_until(lambda: h.stats()['published'] == 3, timeout=WAIT)
    snapshot = h.stats()

    def settled():
        return statuses and values(statuses[-1]).get('dropped bad_image') == '1' and (
            values(statuses[-1]).get('published') == '3')
    assert h.spin_until(settled, timeout=WAIT), [values(s) for s in statuses[-2:]]
    last = statuses[-1]
    assert last.level == DiagnosticStatus.OK and last.message == 'publishing grasps'
    got = values(last)
    for key in ('frames_in', 'missed', 'processed', 'published', 'no_grasp'):
        assert got[key] == str(snapshot[key]), key
    assert float(got['inference p50 ms']) > 0 and float(got['inference p95 ms']) >= float(
        got['inference p50 ms'])

    entry = diagnostic_entry(last)      # what the ROS benchmark makes of it
    assert (entry['frames_in'], entry['processed'], entry['published']) == (4, 3, 3)
    assert entry['dropped'] == {'bad_image': 1}
    assert entry['timings_ms']['inference'][0] == float(got['inference p50 ms'])
