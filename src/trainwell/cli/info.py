"""``trainwell info RUN_DIR``: what a run or model folder holds, in a few lines."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

__all__ = ["add_parser", "cmd_info"]


def cmd_info(args: argparse.Namespace) -> int:
    """Print the network, its training, the classes, the test metrics and the step-time advice."""
    from ..persist import load

    run = Path(args.run_dir)
    est = load(run, device="cpu")
    spec = est.spec_
    lines = [
        f"{type(est).__name__} ({spec.kind}), trained {est.n_iter_} epochs (best {est.best_epoch_}): {est.stop_reason_}",
        f"input {spec.input_shape}, hidden {list(spec.hidden)}, outputs {spec.n_outputs}, activation {spec.activation}, "
        f"init {spec.init}, batch norm {'on' if spec.batchnorm else 'off'}, dropout {spec.dropout}",
        f"parameters: {sum(p.numel() for p in est.network_.parameters()):,}",
    ]
    if hasattr(est, "classes_"):
        lines.append(f"classes: {np.asarray(est.classes_).tolist()[:20]}")
    metrics = run / "metrics.json"
    if metrics.is_file():
        lines.append("test metrics: " + json.dumps(json.loads(metrics.read_text())))
    diagnostics = run / "diagnostics.json"
    if diagnostics.is_file():
        from ..diagnose.speed import step_time_advice

        speed = step_time_advice(json.loads(diagnostics.read_text()).get("run", {}).get("step_time"))
        if speed:
            lines.append("speed: " + " ".join(speed))
    print("\n".join(lines))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``trainwell info`` on the CLI's subparsers."""
    p = subparsers.add_parser("info", help="describe a run or model folder")
    p.add_argument("run_dir")
    p.set_defaults(func=cmd_info)
