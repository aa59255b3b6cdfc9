"""``trainwell lab``: run one of the notes' experiments from the command line.

::

    trainwell lab --list
    trainwell lab activations                 # prints what it measured
    trainwell lab init --out lab-results      # also writes init.png and init.json there
    trainwell lab all --out lab-results       # every experiment
"""

from __future__ import annotations

import argparse
import json

__all__ = ["add_parser", "cmd_lab"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``trainwell lab`` on the CLI's subparsers."""
    p = subparsers.add_parser("lab", help="run an experiment that tests a claim of the notes on real data")
    p.add_argument("name", nargs="?", help="experiment to run ('all' runs every one); see --list")
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    p.add_argument("--out", default=None, help="folder to write NAME.png (the plot) and NAME.json (the numbers)")
    p.add_argument("--quick", action="store_true", help="fewer samples and epochs (seconds; not for conclusions)")
    p.add_argument("--seed", type=int, default=0, help="seed of the splits and initial weights (default 0)")
    p.add_argument("--json", action="store_true", help="print the numbers as JSON after the summary")
    p.set_defaults(func=cmd_lab)


def cmd_lab(args: argparse.Namespace) -> int:
    """Run ``trainwell lab``; returns the exit code."""
    from ..exceptions import ConfigError
    from ..lab import get, list_experiments, run

    if args.list:
        experiments = list_experiments()
        width = max(len(e.name) for e in experiments)
        for e in experiments:
            print(f"{e.name:<{width}}  {e.title}")
        return 0
    if not args.name:
        raise ConfigError("Name an experiment to run (trainwell lab NAME), or list them with trainwell lab --list.")
    names = [e.name for e in list_experiments()] if args.name == "all" else [get(args.name).name]
    for name in names:
        result = run(name, quick=args.quick, seed=args.seed)
        print(f"{name} ({result.seconds:.1f} s): {result.summary}")
        if args.json:
            print(json.dumps(result.to_dict()["numbers"], indent=2))
        if args.out:
            paths = result.save(args.out)
            print(f"  wrote {paths['png']} and {paths['json']}")
    return 0
