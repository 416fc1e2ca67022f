"""``python -m training.synth``: the ``synth`` command on its own (same options as
``python -m training synth``), usable even when other training commands cannot be imported."""

import argparse
import sys

from training.synth import register


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='python -m training')
    register(parser.add_subparsers(dest='command', required=True))
    args = parser.parse_args(['synth', *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args) or 0)


if __name__ == '__main__':
    sys.exit(main())
