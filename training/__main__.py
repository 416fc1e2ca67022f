"""``python -m training <command>``: train, evaluate, export, table and data tools."""

from __future__ import annotations

import argparse
import importlib
import sys

# Each command lives in its own module exposing ``register(subparsers)``, which adds a
# sub-parser with ``set_defaults(func=...)``; ``func(args)`` returns an exit code.
COMMAND_MODULES = (
    'training.train',
    'training.evaluate',
    'training.export',
    'training.table',
    'training.tinydata',
    'training.synth',
    'training.relabel',
    'training.refit_width',
    'training.scene_eval',
    'training.grasp_bench',
    'training.bench_report',
    'training.study_report',
    'training.label_stats',
    'training.benchmark',
    'training.demo',
    'training.predict',
    'training.recipe',
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='python -m training',
        description='Train, evaluate and export GG-CNN / MTG-CNN grasp networks '
                    '(Prew et al., ICPR 2020) on Jacquard-format data.')
    subparsers = parser.add_subparsers(dest='command', metavar='COMMAND', required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # command not written yet on this branch
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == '__main__':
    sys.exit(main())
