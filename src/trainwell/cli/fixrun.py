"""``trainwell fit ... --fix``: the top finding's fix, trained and judged against the first run."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["fix_round"]


def fix_round(train: Callable[[dict[str, Any], str], dict[str, Any]], params: dict[str, Any], out: str,
              first: Any, before: dict[str, Any], *, quiet: bool = False, as_json: bool = False) -> dict[str, Any] | None:
    """Train again with the first run's top fix into ``OUT-fixed`` and print both test scores and a verdict.

    Parameters
    ----------
    train : callable
        ``train(params, out)`` runs one fit on the same data, split and seed and returns its test metrics.
    params : dict
        The first run's estimator parameters.
    out : str
        The first run's folder; the second run goes to ``out + "-fixed"``.
    first : fitted estimator
        The first run (its ranked ``findings_``).
    before : dict
        The first run's test metrics.
    quiet, as_json : bool
        Print nothing (the verdict still on stdout with ``as_json``, as one JSON object).

    Returns
    -------
    dict or None
        :meth:`~trainwell.compare.FixResult.to_dict` of the outcome; ``None`` when no finding
        advised a change (said on stderr).
    """
    from ..compare.fixing import FixResult, top_fix

    finding = top_fix(list(first.findings_))
    metric = "accuracy" if "accuracy" in before else "r2"
    if finding is None:
        if not quiet:
            print("--fix: no finding advised a change; there is nothing to try.", file=sys.stderr)
        return None
    if not quiet:
        change = ", ".join(f"{k}={v!r}" for k, v in finding.fix.items())
        print(f"--fix: training again with {change} ({finding.code}), same split and seed, into {out}-fixed",
              file=sys.stderr)
    after = train({**params, **finding.fix}, f"{out}-fixed")
    result = FixResult(finding, dict(finding.fix), metric, [float(before[metric])], [float(after[metric])])
    record = {**result.to_dict(), "run_folder": out, "fixed_run_folder": f"{out}-fixed"}
    if as_json:
        sys.stdout.write(json.dumps(record) + "\n")
    elif not quiet:
        print(f"fix: {record['verdict']}")
    return record
