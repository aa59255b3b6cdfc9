"""``trainwell export RUN_DIR model.onnx``: a trained run as one ONNX graph, recorded in its ``model.json``.

The graph takes the raw features (scaling and the one-hot encoding of categorical columns
included) and returns labels and probabilities, or a regressor's predictions in the units of
``y``: see :mod:`trainwell.estimators.onnx_export`. stdout holds the written file's path only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "cmd_export", "record_export"]


def _model_json(run_dir: Path) -> Path:
    """The ``model.json`` of a run folder (in its ``model/``) or of a model folder."""
    from ..persist import MODEL_JSON

    inner = run_dir / "model" / MODEL_JSON
    return inner if inner.is_file() else run_dir / MODEL_JSON


def record_export(run_dir: str | os.PathLike, export: dict[str, Any]) -> Path:
    """Add ``export`` (where the ONNX file is, its operator set) to the folder's ``model.json``, atomically.

    Parameters
    ----------
    run_dir : str or path-like
        A run folder (``trainwell fit``) or a model folder.
    export : dict
        JSON values, stored under the key ``"onnx"`` (replacing an earlier export's).

    Returns
    -------
    Path
        The ``model.json`` written.
    """
    from .._files import write_file_atomic

    path = _model_json(Path(run_dir))
    desc = json.loads(path.read_text(encoding="utf-8"))
    desc["onnx"] = export
    return write_file_atomic(path, json.dumps(desc, indent=1, allow_nan=False))


def cmd_export(args: argparse.Namespace) -> int:
    """Export the run's model to ONNX, record it in ``model.json`` and print the file's path."""
    from ..estimators import load
    from ..estimators.onnx_export import ML_OPSET, OPSET

    est = load(args.run_dir, device="cpu")  # checks the folder: a missing or damaged one is one sentence
    target = Path(args.output)
    existed = target.exists()
    path = Path(est.to_onnx(str(target)))
    export = {"path": str(path.resolve()), "opset": OPSET,
              "ml_opset": ML_OPSET if est.transform_.categories else None, "bytes": path.stat().st_size}
    try:
        record_export(args.run_dir, export)
    except BaseException:
        if not existed:  # an export that is not recorded is not left behind either
            path.unlink(missing_ok=True)
        raise
    print(path)
    if not args.quiet:
        inputs = ["X (float32)"] if est.transform_.columns is None or \
            len(est.transform_.categories) < len(est.transform_.columns) else []
        inputs += [f"{c} (string)" for c in est.transform_.categories]
        outputs = "label, probabilities" if hasattr(est, "classes_") else "predictions"
        print(f"ONNX opset {OPSET}: inputs {', '.join(inputs)}; outputs {outputs}; recorded in "
              f"{_model_json(Path(args.run_dir))}", file=sys.stderr)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``trainwell export`` on the CLI's subparsers."""
    p = subparsers.add_parser("export", help="export a trained run to ONNX (raw features in, labels or predictions out)")
    p.add_argument("run_dir", help="run folder from 'trainwell fit' (or a model folder)")
    p.add_argument("output", help="the .onnx file to write (its folder must exist)")
    p.add_argument("--quiet", action="store_true", help="print only the written file's path")
    p.set_defaults(func=cmd_export)
