"""``trainwell info RUN_DIR``: what a run or model folder holds, in a few lines (or one JSON object)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._files import jsonable
from .output import finding_record, print_json

if TYPE_CHECKING:
    pass

__all__ = ["add_parser", "cmd_info", "run_info"]


def run_info(run_dir: str | Path) -> dict[str, Any]:
    """What ``trainwell info --json`` prints: the network, its training, the classes and the results.

    Parameters
    ----------
    run_dir : str or Path
        A run folder (``trainwell fit``) or a model folder.

    Returns
    -------
    dict
        JSON-ready: ``run_folder``, ``estimator``, ``kind``, ``epochs``, ``best_epoch``,
        ``stop_reason``, ``input_shape``, ``hidden``, ``n_outputs``, ``activation``, ``init``,
        ``batchnorm``, ``dropout``, ``parameters``, ``classes`` (``None`` for a regressor),
        ``metrics`` (``metrics.json``, or ``None``), ``findings`` (``diagnostics.json``'s, as
        code/severity/message/advice), ``speed`` (sentences) and ``onnx`` (the export
        ``trainwell export`` recorded in ``model.json``: path, opset; or ``None``).
    """
    import numpy as np

    from ..diagnose.speed import step_time_advice
    from ..model_folder import find_model_folder, read_description
    from ..persist import load

    run = Path(run_dir)
    est = load(run, device="cpu")
    spec = est.spec_
    metrics = run / "metrics.json"
    diagnostics_file = run / "diagnostics.json"
    diagnostics = json.loads(diagnostics_file.read_text()) if diagnostics_file.is_file() else {}
    return jsonable({
        "run_folder": str(run),
        "estimator": type(est).__name__,
        "kind": spec.kind,
        "epochs": est.n_iter_,
        "best_epoch": est.best_epoch_,
        "stop_reason": est.stop_reason_,
        "input_shape": spec.input_shape,
        "hidden": list(spec.hidden),
        "n_outputs": spec.n_outputs,
        "activation": spec.activation,
        "init": spec.init,
        "batchnorm": spec.batchnorm,
        "dropout": spec.dropout,
        "parameters": sum(p.numel() for p in est.network_.parameters()),
        "input_preparation": _preparation(est.transform_),
        "classes": np.asarray(est.classes_).tolist() if hasattr(est, "classes_") else None,
        "metrics": json.loads(metrics.read_text()) if metrics.is_file() else None,
        "findings": [finding_record(f) for f in diagnostics.get("findings", [])],
        "speed": step_time_advice(diagnostics.get("run", {}).get("step_time")),
        "onnx": read_description(find_model_folder(run)).get("onnx"),
    })


def _preparation(transform) -> dict:
    """How the input is prepared: scaling, gaps filled, piecewise-linear bins (encoded column names)."""
    names = transform._expanded_names()
    binned = [names[j] if names else f"feature {j}" for j in transform.bins]
    return {"scaling": transform.scaling, "missing_filled": sorted(transform.n_missing),
            "piecewise_columns": binned, "piecewise_inputs": transform.n_bin_columns}


def cmd_info(args: argparse.Namespace) -> int:
    """Print the network, its training, the classes, the test metrics, the findings and the step-time advice."""
    info = run_info(args.run_dir)
    if args.json:
        print_json(info)
        return 0
    lines = [
        f"{info['estimator']} ({info['kind']}), trained {info['epochs']} epochs (best {info['best_epoch']}): "
        f"{info['stop_reason']}",
        f"input {tuple(info['input_shape'])}, hidden {info['hidden']}, outputs {info['n_outputs']}, "
        f"activation {info['activation']}, init {info['init']}, batch norm {'on' if info['batchnorm'] else 'off'}, "
        f"dropout {info['dropout']}",
        f"parameters: {info['parameters']:,}",
    ]
    prep = info["input_preparation"]
    parts = [f"scaling {prep['scaling']}"]
    if prep["missing_filled"]:
        parts.append(f"gaps filled with training medians in {len(prep['missing_filled'])} column(s)")
    if prep["piecewise_columns"]:
        shown = ", ".join(prep["piecewise_columns"][:5]) + (", ..." if len(prep["piecewise_columns"]) > 5 else "")
        parts.append(f"piecewise-linear bins on {len(prep['piecewise_columns'])} numeric column(s) ({shown}): "
                     f"{prep['piecewise_inputs']} more inputs")
    lines.append("input preparation: " + "; ".join(parts))
    if info["classes"] is not None:
        classes = info["classes"]
        more = f" … and {len(classes) - 20} more ({len(classes)} in all; --json lists every one)" if len(classes) > 20 else ""
        lines.append(f"classes: {classes[:20]}{more}")
    if info["metrics"] is not None:
        lines.append("test metrics: " + json.dumps(info["metrics"]))
    for f in info["findings"]:
        lines.append(f"{f['severity']} {f['code']}: {f['message']}")
    if info["speed"]:
        lines.append("speed: " + " ".join(info["speed"]))
    if info["onnx"]:
        lines.append(f"ONNX export: {info['onnx'].get('path')} (opset {info['onnx'].get('opset')})")
    print("\n".join(lines))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``trainwell info`` on the CLI's subparsers."""
    p = subparsers.add_parser("info", help="describe a run or model folder")
    p.add_argument("run_dir", help="run folder from 'trainwell fit' or 'trainwell demo' (or a model folder)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (network, training, classes, test metrics, findings) instead of lines")
    p.set_defaults(func=cmd_info)
