"""ONNX Runtime with and without spin-waiting: latency and CPU time per frame.

``python tools/ort_spin_probe.py [MODEL.onnx]`` runs the deployed network (default:
models/mtgcnn_depth_p.onnx, 2 threads) 150 times per setting with a 10 ms pause between runs,
as between camera frames, and prints the inference p50/p99 and this process' CPU time per
frame: spinning threads keep burning CPU in the pauses.
"""

import argparse
import resource
import sys
import time

import numpy as np
import onnxruntime as ort


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog='python tools/ort_spin_probe.py',
        description='ONNX Runtime with and without spin-waiting threads: inference p50/p99 and '
                    'CPU time per frame, 150 runs per setting with a 10 ms pause between runs '
                    '(as between camera frames).')
    parser.add_argument('model', nargs='?', default='models/mtgcnn_depth_p.onnx',
                        help='ONNX graph of a deploy model')
    path = parser.parse_args(argv).model
    x = np.random.default_rng(0).normal(size=(1, 3, 300, 300)).astype(np.float32)
    for spin in ('1', '0'):
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        options.add_session_config_entry('session.intra_op.allow_spinning', spin)
        session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
        name = session.get_inputs()[0].name
        for _ in range(10):
            session.run(None, {name: x})
        times, frames, cpu0 = [], 150, cpu_seconds()
        for _ in range(frames):
            t = time.perf_counter()
            session.run(None, {name: x})
            times.append(time.perf_counter() - t)
            time.sleep(0.010)
        cpu = (cpu_seconds() - cpu0) / frames * 1000.0
        ms = np.asarray(times) * 1000.0
        print(f'allow_spinning {spin}: inference p50 {np.percentile(ms, 50):.1f} ms, p99 '
              f'{np.percentile(ms, 99):.1f} ms, CPU {cpu:.1f} ms per frame')
    return 0


if __name__ == '__main__':
    sys.exit(main())
