"""The ``trainwell`` command: its parser, assembled from one module per command, and ``main``.

Bad input ends with one sentence on stderr and exit status 2; an internal error with
exit status 1; ``--debug`` shows the traceback in both cases.
"""

from __future__ import annotations

import argparse
import sys

from .._version import __version__
from ..exceptions import TrainwellError
from . import check, compare, demo, fit, info, lab, predict, report, tune

__all__ = ["EXIT_BAD_INPUT", "EXIT_INTERNAL", "build_parser", "main"]

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command, in the order ``trainwell --help`` lists them."""
    parser = argparse.ArgumentParser(prog="trainwell", description="Train neural networks the way the best practitioners do.")
    parser.add_argument("--version", action="version", version=f"trainwell {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in (demo.add_parser, fit.add_parser, predict.add_parser, info.add_parser, report.add_parser,
                     compare.add_parser, lab.add_parser, check.add_parser, tune.add_parser, tune.add_parser_lr_find):
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``trainwell`` command; returns its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted; nothing was written.", file=sys.stderr)
        return 130
    except (TrainwellError, ValueError, TypeError, FileNotFoundError) as exc:
        if args.debug:
            raise
        # A TypeError that is no TrainwellError is a bug of ours, not the user's input.
        internal = not isinstance(exc, TrainwellError) and isinstance(exc, TypeError)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INTERNAL if internal else EXIT_BAD_INPUT
    except Exception as exc:  # an internal error: say so, keep the traceback for --debug
        if args.debug:
            raise
        print(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
