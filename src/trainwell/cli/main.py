"""The ``trainwell`` command: its parser, assembled from one module per command, and ``main``.

Bad input (a :class:`~trainwell.exceptions.TrainwellError`, or a file that does not exist)
ends with one sentence on stderr and exit status 2; any other error is ours, an internal
error, exit status 1; ``--debug`` (before or after the command's name) shows the traceback
in both cases. A reader that closes the output early (``trainwell predict ... | head``)
ends the command quietly with exit status 141, as it ends other Unix tools.
"""

from __future__ import annotations

import argparse
import os
import sys

from .._version import __version__
from ..exceptions import TrainwellError
from . import check, compare, demo, export, fit, info, lab, predict, report, tune

__all__ = ["EXIT_BAD_INPUT", "EXIT_BROKEN_PIPE", "EXIT_INTERNAL", "build_parser", "main"]

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1
#: 128 + SIGPIPE: what a shell reports for ``cat big | head``; Python ignores SIGPIPE, so it is set here.
EXIT_BROKEN_PIPE = 141
#: An internal error's message is a library's, not ours: it can be kilobytes (a list of every label).
_MAX_INTERNAL_MESSAGE = 300
_DEBUG_HELP = "show the Python traceback of an error"


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command, in the order ``trainwell --help`` lists them."""
    parser = argparse.ArgumentParser(prog="trainwell", description="Train neural networks the way the best practitioners do.")
    parser.add_argument("--version", action="version", version=f"trainwell {__version__}")
    parser.add_argument("--debug", action="store_true", help=_DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in (demo.add_parser, fit.add_parser, predict.add_parser, export.add_parser, info.add_parser,
                     report.add_parser, compare.add_parser, lab.add_parser, check.add_parser, tune.add_parser,
                     tune.add_parser_lr_find):
        register(sub)
    for command in sub.choices.values():
        # Accepted after the command too (where people add it when rerunning). SUPPRESS keeps a
        # sub-command's default from overwriting ``trainwell --debug COMMAND``'s True.
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=_DEBUG_HELP)
    return parser


def _stdout_closed() -> int:
    """The reader of stdout went away: end quietly, as other Unix tools do."""
    try:
        # Python flushes stdout once more at exit, which would fail on the closed pipe and print
        # "Exception ignored ... BrokenPipeError"; pointing the descriptor at /dev/null stops that.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # a stdout with no descriptor (replaced in tests): nothing to flush
        pass
    return EXIT_BROKEN_PIPE


def _internal_error(exc: BaseException, command: str) -> str:
    """One line for an error of ours: its type, the start of its message, and how to see more."""
    message = " ".join(str(exc).split())
    if len(message) > _MAX_INTERNAL_MESSAGE:
        message = message[:_MAX_INTERNAL_MESSAGE] + "…"
    return (f"internal error: {type(exc).__name__}: {message} (run `trainwell {command} ... --debug` "
            "for the traceback, and report it)")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``trainwell`` command; returns its exit status.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after ``trainwell``; by default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success, 2 for bad input, 1 for an internal error, 130 when interrupted, 141
        when the reader of stdout closed it early.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        status = args.func(args)
        sys.stdout.flush()  # here, so that a closed pipe is met inside this try, not at exit
        return status
    except BrokenPipeError:
        return _stdout_closed()
    except KeyboardInterrupt:
        print("interrupted.", file=sys.stderr)
        return 130
    except (TrainwellError, FileNotFoundError) as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # an internal error: say so, keep the traceback for --debug
        # Every error about the user's input is a TrainwellError (one sentence); a bare
        # ValueError or TypeError comes from deeper down, where we failed to check something.
        if args.debug:
            raise
        print(_internal_error(exc, args.command), file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
