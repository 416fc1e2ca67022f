"""The ROS benchmark's maths (windows, percentiles, the 2-period verdict, RSS growth, the node's
statistics lines), the replay camera's schedule, and one short end-to-end run in 3 processes."""

import json
import math
import os
from pathlib import Path
import subprocess
import sys
import time

import numpy as np
import pytest

from simulation.replay_camera import SUMMARY_PREFIX
from tools import benchmark_report as br
from tools import child_metrics as cm
from tools import latency_stats as ls
from tools import ros_benchmark
from tools import ros_processes as rp

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000.0


def shared_helpers():
    """``(_isolated_ros_env, save_model)``: the shared test helpers of test/node_harness.py and
    test/model_fixtures.py."""
    sys.path.insert(0, str(Path(__file__).parents[1]))
    try:
        from model_fixtures import save_model
        from node_harness import _isolated_ros_env
    finally:
        sys.path.pop(0)
    return _isolated_ros_env, save_model


# ------------------------------------------------------------------------------ windows
def camera(rate=30.0, seconds=10.0, start=T0 - 1.0):
    """Stamps of a camera at ``rate`` from ``start`` for 1 s + ``seconds`` + 1 s."""
    return start + np.arange(int(round((seconds + 2.0) * rate))) / rate


def test_window_counts_fps_drops_and_latency():
    cam = camera(30.0, 10.0)
    inside = cam[(cam >= T0) & (cam < T0 + 10.0)]
    assert len(inside) == 300
    kept = cam[::2]   # every second frame yields a grasp, 50 ms after its stamp
    stamps, received = list(kept), list(kept + 0.050)
    first_inside = float(inside[0])
    stamps.append(first_inside)            # a repeated grasp of a frame: counted once, and
    received.append(first_inside + 5.0)    # its later receipt does not count as latency
    lateness = np.where(np.arange(len(cam)) % 10 == 0, 0.005, 0.0001)   # every 10th late
    r = ls.window_summary(stamps, received, cam, T0, T0 + 10.0, lateness, 0.002)
    assert r['published'] == 300 and not r['published_estimated']
    assert r['late'] == 30
    assert r['processed'] == 150 and r['grasps_received'] == 151
    assert r['processed_fps'] == pytest.approx(15.0)
    assert r['dropped'] == 150 and r['dropped_pct'] == pytest.approx(50.0)
    lat = r['latency_ms']
    assert lat['n'] == 150
    assert lat['p50'] == pytest.approx(50.0, abs=1e-3)
    assert lat['p99'] == pytest.approx(50.0, abs=1e-3)
    assert lat['max'] == pytest.approx(50.0, abs=1e-3)
    assert r['node_period_ms'] == pytest.approx(1000.0 / 15.0)
    assert r['p99_below_2_periods'] is True


def test_window_percentiles_and_failed_verdict():
    stamps = T0 + np.arange(100) * 0.1           # 10 FPS: period 100 ms
    latency = np.arange(1, 101, dtype=float)     # 1..100 ms
    latency[-1] = 250.0                          # one outlier
    r = ls.window_summary(stamps, stamps + latency / 1000.0, None, T0, T0 + 10.0, rate=10.0)
    assert r['published'] == 100 and r['published_estimated'] and r['late'] is None
    assert r['dropped'] == 0
    assert r['latency_ms']['p50'] == pytest.approx(np.percentile(latency, 50), abs=1e-3)
    assert r['latency_ms']['p99'] == pytest.approx(np.percentile(latency, 99), abs=1e-3)
    assert r['latency_ms']['max'] == pytest.approx(250.0, abs=1e-3)
    assert r['p99_below_2_periods'] is True      # p99 ~101.5 ms < 200 ms
    latency[-5:] = 400.0
    r = ls.window_summary(stamps, stamps + latency / 1000.0, None, T0, T0 + 10.0, rate=10.0)
    assert r['latency_ms']['p99'] > 200.0 and r['p99_below_2_periods'] is False
    assert r['p99_periods'] == pytest.approx(r['latency_ms']['p99'] / 100.0)


def test_empty_window_has_no_verdict():
    r = ls.window_summary([], [], camera(), T0, T0 + 10.0)
    assert r['processed'] == 0 and r['dropped'] == r['published'] == 300
    assert r['dropped_pct'] == pytest.approx(100.0)
    assert math.isnan(r['latency_ms']['p50']) and r['p99_below_2_periods'] is None
    with pytest.raises(ValueError):
        ls.window_summary([], [], None, T0, T0)


def test_period_verdict():
    assert ls.period_verdict(99.9, 20.0)['p99_below_2_periods'] is True
    assert ls.period_verdict(100.0, 20.0)['p99_below_2_periods'] is False   # strictly below
    assert ls.period_verdict(100.0, 20.0)['node_period_ms'] == pytest.approx(50.0)
    assert ls.period_verdict(10.0, 0.0)['p99_below_2_periods'] is None
    assert ls.period_verdict(math.nan, 20.0)['p99_below_2_periods'] is None


def test_latency_trend_sees_growth_and_its_slope():
    stamps = T0 + np.arange(0, 600, 0.1)                        # 10 minutes
    flat = ls.latency_trend(stamps, stamps + 0.040, T0, T0 + 600)
    assert flat['part_s'] == 60.0 and flat['latency_growing'] is False
    assert flat['first_p50_ms'] == pytest.approx(40.0, abs=1e-3)
    assert flat['slope_ms_per_min'] == pytest.approx(0.0, abs=1e-3)
    growing = stamps + 0.040 + (stamps - T0) / 60.0 * 0.002      # +2 ms per minute
    g = ls.latency_trend(stamps, growing, T0, T0 + 600)
    assert g['slope_ms_per_min'] == pytest.approx(2.0, rel=1e-3)
    assert g['last_p50_ms'] > g['first_p50_ms'] and g['latency_growing'] is True
    short = ls.latency_trend(stamps, stamps + 0.040, T0, T0 + 30)
    assert short['part_s'] == pytest.approx(10.0)


def test_rss_growth_after_warm_up():
    samples = [(T0 - 5.0, 100_000)]                              # start-up: ignored
    samples += [(T0 + i, 200_000 + 100 * i) for i in range(0, 601)] + [(T0 + 3.0, None)]
    s = ls.rss_summary(samples, T0, T0 + 600)
    assert s['start_kb'] == 200_000 and s['end_kb'] == 260_000 and s['max_kb'] == 260_000
    assert s['growth_pct'] == pytest.approx(30.0) and s['growth_ok'] is False
    small = ls.rss_summary([(T0, 200_000), (T0 + 600, 209_000)], T0, T0 + 600)
    assert small['growth_pct'] == pytest.approx(4.5) and small['growth_ok'] is True
    assert ls.rss_summary([], T0, T0 + 1)['growth_pct'] is None


# ------------------------------------------------------------------------------ node log
def stats_line(frames_in, processed, superseded, no_grasp=0, timings=True):
    """A statistics line exactly as the node writes it."""
    from mtg_grasp_ros.node_statistics import FrameStatistics

    s = FrameStatistics()
    s.frames_in, s.processed, s.published = frames_in, processed, processed - no_grasp
    s.no_grasp = no_grasp
    if superseded:
        s.dropped['superseded'] = superseded
    if timings:
        s.add_time('inference', 0.040)
        s.add_time('age', 0.080)
    return s.summary()


def test_statistics_lines_parse_and_subtract():
    log = '\n'.join([
        '[INFO] [1700000000.000000001] [grasp_detection]: ready: ...',
        f'[INFO] [{T0 - 0.5:.9f}] [grasp_detection]: {stats_line(100, 60, 38, 2)}',
        '[WARN] [1700000000.100000000] [grasp_detection]: frame skipped (tf, 1 so far): ...',
        f'[INFO] [{T0 + 9.5:.9f}] [grasp_detection]: {stats_line(400, 260, 130, 5)}',
        f'[INFO] [{T0 + 10.5:.9f}] [grasp_detection]: {stats_line(430, 280, 140, 5)}'])
    entries = cm.statistics_entries(log)
    assert len(entries) == 3
    first = entries[0][1]
    assert (first['frames_in'], first['processed'], first['published'], first['no_grasp']) == (
        100, 60, 58, 2)
    assert first['dropped'] == {'superseded': 38}
    assert first['timings_ms']['inference'] == pytest.approx((40.0, 40.0))
    assert first['timings_ms']['stamp->publish'] == pytest.approx((80.0, 80.0))
    d = cm.statistics_delta(entries, T0, T0 + 10.0)
    assert d['span_s'] == pytest.approx(10.0)
    assert (d['frames_in'], d['processed'], d['published'], d['no_grasp']) == (300, 200, 197, 3)
    assert d['dropped'] == {'superseded': 92}
    assert cm.statistics_delta(entries, T0 - 10.0, T0 + 10.0) is None   # nothing before
    none = cm.parse_statistics(stats_line(5, 5, 0, timings=False))
    assert none['dropped'] == {} and none['timings_ms'] == {}


def diagnostic_status(frames_in, processed, superseded, no_grasp=0):
    """The node's DiagnosticStatus as FrameStatistics.diagnose fills it (diagnostic_updater's
    ``stat`` and DiagnosticStatus stood in: the diagnostics packages have no PyPI wheels)."""
    from types import SimpleNamespace

    from mtg_grasp_ros.node_statistics import FrameStatistics

    s = FrameStatistics()
    s.frames_in, s.processed, s.published = frames_in, processed, processed - no_grasp
    s.no_grasp = no_grasp
    if superseded:
        s.dropped['superseded'] = superseded
    s.add_time('inference', 0.040)
    s.add_time('inference', 0.050)
    values = []
    stat = SimpleNamespace(summary=lambda level, message: None,
                           add=lambda k, v: values.append(SimpleNamespace(key=k, value=v)))
    diagnostic_msgs = pytest.importorskip('diagnostic_msgs.msg', reason='diagnostic_msgs')
    s.diagnose(stat, 5.0)
    del diagnostic_msgs
    return SimpleNamespace(name='grasp_detection: grasp detection', message='publishing grasps',
                           values=values)


def test_diagnostic_status_parses_as_the_log_line():
    """What the benchmark reads from /diagnostics equals what it reads from the log line."""
    status = diagnostic_status(400, 260, 130, 5)
    entry = cm.diagnostic_entry(status)
    line = cm.parse_statistics(stats_line(400, 260, 130, 5, timings=False))
    for key in ('frames_in', 'processed', 'published', 'no_grasp', 'dropped'):
        assert entry[key] == line[key], key
    p50, p95 = entry['timings_ms']['inference']
    assert p50 == pytest.approx(45.0) and 45.0 < p95 <= 50.0
    other = type(status)(name='camera: driver', message='', values=[])
    assert cm.diagnostic_entry(other) is None
    d = cm.statistics_delta([(T0, cm.diagnostic_entry(diagnostic_status(100, 60, 38, 2))),
                             (T0 + 10.0, entry)], T0, T0 + 10.0)
    assert (d['frames_in'], d['processed'], d['published'], d['no_grasp']) == (300, 200, 197, 3)
    assert d['dropped'] == {'superseded': 92}


def test_frames_that_never_reached_the_node():
    # 60 Hz published, the node's callback saw 30/s over a slightly longer statistics window.
    u = ls.undelivered(600, 10.0, {'frames_in': 330, 'span_s': 11.0})
    assert u['undelivered_to_node'] == 300 and u['undelivered_pct'] == pytest.approx(50.0)
    assert ls.undelivered(300, 10.0, {'frames_in': 310, 'span_s': 10.0})[
        'undelivered_to_node'] == 0
    assert ls.undelivered(600, 10.0, None)['undelivered_to_node'] is None
    assert ls.undelivered(None, 10.0, {'frames_in': 1, 'span_s': 1.0})['undelivered_pct'] is None


def test_camera_summary_line_and_json_clean():
    text = 'rendering...\n' + SUMMARY_PREFIX + json.dumps({'published': 12, 'late': 1}) + '\n'
    assert cm.camera_summary(text) == {'published': 12, 'late': 1}
    assert cm.camera_summary('no summary') is None
    clean = br.json_clean({'a': math.nan, 'b': (1.0, np.float64(2.0)), 'c': Path('x')})
    assert clean == {'a': None, 'b': [1.0, 2.0], 'c': 'x'}
    json.dumps(clean, allow_nan=False)


def test_markdown_table_one_row_per_rate():
    cam = camera(60.0, 10.0)
    stamps = cam[::4]
    rows = []
    for rate, latency in ((30.0, 0.050), (60.0, 0.200)):
        r = ls.window_summary(stamps, stamps + latency, cam, T0, T0 + 10.0)
        r.update(rate_hz=rate, late=0, undelivered_to_node=12,
                 node_window={'dropped': {'superseded': 7, 'tf': 0}, 'no_grasp': 2},
                 cpu={'machine_busy_pct': 97.0, 'cores': 2, 'loadavg_1m_end': 3.1})
        rows.append(r)
    table = br.markdown_table(rows).splitlines()
    assert len(table) == 4 and all(line.count('|') == 10 for line in table)
    assert '| 30 Hz |' in table[2] and '| yes |' in table[2]
    assert '| 60 Hz |' in table[3] and '**no**' in table[3]
    assert '~12 never arrived, superseded 7, no grasp 2' in table[2] and 'tf 0' not in table[2]
    assert '97% of 2' in table[2]
    assert '--- 30 Hz' in br.describe_rate(dict(rows[0], late_tolerance_ms=2.0))


def test_cpu_usage_and_proc_readers():
    before = {'wall': 0.0, 'machine': (1000, 4000), 'loadavg': 1.0,
              'processes': {'node': 10.0, 'camera': 1.0, 'benchmark': 2.0}}
    after = {'wall': 10.0, 'machine': (2600, 6000), 'loadavg': 2.5,
             'processes': {'node': 20.0, 'camera': 1.5, 'benchmark': 2.5}}
    u = cm.cpu_usage(before, after)
    assert u['machine_busy_pct'] == pytest.approx(80.0)
    assert u['node_pct'] == pytest.approx(100.0) and u['camera_pct'] == pytest.approx(5.0)
    assert u['loadavg_1m_end'] == 2.5
    if u['cores'] == 2:
        assert u['other_cores'] == pytest.approx(1.6 - 1.1)
    if Path('/proc/self/status').exists():
        assert cm.read_rss_kb(os.getpid()) > 1000
        assert cm.process_cpu_seconds(os.getpid()) > 0
        busy, total = cm.read_cpu_times()
        assert 0 < busy < total
    assert cm.read_rss_kb(2 ** 30) is None and cm.process_cpu_seconds(2 ** 30) is None


def test_arguments_and_node_command(tmp_path):
    args = ros_benchmark.parse_args(['--rates', '30', '--param', 'top_k:=1',
                                     '--param', 'threads:=2'])
    cmd = rp.benchmark_node_command(args, tmp_path / 'model')
    assert cmd[1:3] == ['-m', 'mtg_grasp_ros.grasp_node']
    tail = cmd[-6:]   # ours after node_command's, the user's last: later -p overrides win
    assert tail == ['-p', 'stats_period:=1.0', '-p', 'top_k:=1', '-p', 'threads:=2']
    assert f'model_path:={tmp_path / "model"}' in cmd and 'use_tf:=false' in cmd
    cam = rp.replay_camera_command(args, 60.0, tmp_path / 's.npz')
    assert cam[cam.index('--rate') + 1] == '60' and cam[cam.index('--reliability') + 1] == (
        'best_effort')  # as camera drivers publish
    for bad in (['--param', 'top_k=1'], ['--rates', '0'], ['--seconds', '-1']):
        with pytest.raises(SystemExit):
            ros_benchmark.parse_args(bad)
    model, error = rp.resolve_model(tmp_path / 'absent')
    assert model is None and 'does not exist' in error and '--model' in error


# ------------------------------------------------------------------------------ DDS set-up
def test_dds_profile_keeps_traffic_on_this_machine():
    """The profile: shared memory with segments that hold a 640x480 image, UDP on 127.0.0.1
    only, no built-in transports, unicast discovery to 127.0.0.1 and no multicast locator."""
    import xml.etree.ElementTree as ET
    ns = {'d': 'http://www.eprosima.com'}
    root = ET.parse(rp.FASTDDS_PROFILE).getroot()
    descriptors = {d.findtext('d:transport_id', namespaces=ns): d
                   for d in root.iterfind('.//d:transport_descriptor', ns)}
    kinds = {k: d.findtext('d:type', namespaces=ns) for k, d in descriptors.items()}
    assert sorted(kinds.values()) == ['SHM', 'UDPv4']
    for key, descriptor in descriptors.items():
        if kinds[key] == 'SHM':
            assert int(descriptor.findtext('d:segment_size', namespaces=ns)) >= 4 * 921_654
        else:
            allowed = [a.text for a in descriptor.iterfind('d:interfaceWhiteList/d:address', ns)]
            assert allowed == ['127.0.0.1']
    (participant,) = root.iterfind('.//d:participant', ns)
    assert participant.get('is_default_profile') == 'true'
    rtps = participant.find('d:rtps', ns)
    assert rtps.findtext('d:useBuiltinTransports', namespaces=ns) == 'false'
    assert sorted(t.text for t in rtps.iterfind('d:userTransports/d:transport_id', ns)) == (
        sorted(descriptors))
    builtin = rtps.find('d:builtin', ns)
    assert builtin.find('d:metatrafficMulticastLocatorList', ns) is None
    for name in ('metatrafficUnicastLocatorList', 'initialPeersList'):
        addresses = [a.text for a in builtin.iterfind(f'd:{name}//d:address', ns)]
        assert addresses == ['127.0.0.1'], name
    assert not any('239.' in (e.text or '') for e in root.iter())


@pytest.mark.parametrize('transport', rp.TRANSPORTS)
def test_ros_environment_stays_on_this_machine(monkeypatch, transport):
    """Children and this process: the private domain, LOCALHOST discovery, never
    FASTDDS_BUILTIN_TRANSPORTS (LARGE_DATA multicasts out of the network interface), and the
    profile for ``localhost`` only."""
    monkeypatch.setenv('FASTDDS_BUILTIN_TRANSPORTS', 'LARGE_DATA')
    monkeypatch.setenv('ROS_STATIC_PEERS', '192.0.2.1')
    monkeypatch.setenv('FASTDDS_DEFAULT_PROFILES_FILE', '/elsewhere.xml')
    monkeypatch.delenv('ROS_AUTOMATIC_DISCOVERY_RANGE', raising=False)
    monkeypatch.setenv('FASTRTPS_DEFAULT_PROFILES_FILE', '/elsewhere.xml')
    monkeypatch.delenv('ROS_DISTRO', raising=False)
    monkeypatch.setenv('ROS_DOMAIN_ID', os.environ.get('ROS_DOMAIN_ID', ''))   # restored later
    args = ros_benchmark.parse_args(['--transport', transport, '--domain-id', '77'])
    env = rp.configure_ros_environment(args)
    profile = str(rp.FASTDDS_PROFILE) if transport == 'localhost' else None
    for where in (env, os.environ):
        assert where['ROS_DOMAIN_ID'] == '77'
        assert where['ROS_AUTOMATIC_DISCOVERY_RANGE'] == 'LOCALHOST'
        assert 'FASTDDS_BUILTIN_TRANSPORTS' not in where and 'ROS_STATIC_PEERS' not in where
        assert where.get('FASTDDS_DEFAULT_PROFILES_FILE') == profile
        # Fast DDS 3 (Kilted): FASTRTPS_ would only make rmw_fastrtps warn "deprecated".
        assert 'FASTRTPS_DEFAULT_PROFILES_FILE' not in where
    assert str(ROOT) in env['PYTHONPATH'].split(os.pathsep)
    assert 'LARGE_DATA' not in rp.transport_label(args)
    assert ros_benchmark.parse_args([]).transport == 'localhost'
    with pytest.raises(SystemExit):
        ros_benchmark.parse_args(['--no-large-data'])
    # Fast DDS 2 (Jazzy and older) reads FASTRTPS_DEFAULT_PROFILES_FILE only.
    settings = rp.dds_settings(transport, {'ROS_DISTRO': 'jazzy'})
    assert settings['FASTRTPS_DEFAULT_PROFILES_FILE'] == profile
    assert settings['FASTDDS_DEFAULT_PROFILES_FILE'] == profile


# ------------------------------------------------------------------------------ end to end
def test_end_to_end_three_processes(tmp_path):
    """3 s at 30 Hz with a tiny constant model (a grasp on every processed frame): the
    benchmark starts the camera and the node, measures, stops both and writes its JSON."""
    isolated_ros_env, save_model = shared_helpers()
    model = save_model(tmp_path / 'constant', kind='constant')
    old = isolated_ros_env()
    try:
        domain = os.environ['ROS_DOMAIN_ID']
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    out = tmp_path / 'bench.json'
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT), os.environ.get('PYTHONPATH')) if p))
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, '-m', 'tools.ros_benchmark', '--model', str(model),
         '--rates', '30', '--seconds', '3', '--warmup', '1', '--frames', '2', '--progress', '0',
         '--logs', str(tmp_path / 'logs'), '--json', str(out), '--domain-id', domain,
         '--startup-timeout', '60'],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    report = json.loads(out.read_text())
    (r,) = report['results']
    assert r['rate_hz'] == 30.0 and r['window_s'] == pytest.approx(3.0)
    assert 80 <= r['published'] <= 92 and r['published_estimated'] is False
    assert r['processed'] > 0 and r['processed'] <= r['published']
    assert 0 < r['latency_ms']['p50'] < 1000.0
    assert r['camera_summary']['published'] >= r['published']
    assert r['node_window'] is not None and r['node_window']['processed'] > 0
    # The node's counters come from /diagnostics where diagnostic_updater is installed, else
    # from its log lines.
    import importlib.util
    have_diagnostics = all(importlib.util.find_spec(m) is not None
                           for m in ('diagnostic_updater', 'diagnostic_msgs'))
    assert r['node_window']['source'] == ('diagnostics' if have_diagnostics else 'log')
    assert '| 30 Hz |' in result.stdout and 'wrote' in result.stdout
    # The grasps of ~/detections where vision_msgs is installed, else of ~/grasp_pose.
    topic = 'detections' if importlib.util.find_spec('vision_msgs') else 'grasp_pose'
    assert f'recording the grasps of /grasp_detection/{topic}' in result.stdout
    assert rp.FASTDDS_PROFILE.name in report['transport']
    assert time.monotonic() - start < 90
