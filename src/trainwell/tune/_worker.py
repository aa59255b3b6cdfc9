"""A worker process of ``tune(..., workers=N)``: ``python -m trainwell.tune._worker JOB INDEX N``.

The job (a :class:`~trainwell.tune.rounds.Round`: estimator, data, stages, storage) arrives as
a pickle written by the parent; an exception goes back as a pickle next to it, where
:func:`~trainwell.tune.rounds.error_path` says. Workers are started as fresh interpreters
running this module rather than with multiprocessing's spawn, which would re-run the user's
script (or fail in a notebook) unless its top level were guarded by ``if __name__ == "__main__"``.
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

from .rounds import error_path, run_round

__all__ = ["error_path", "main"]


def main(argv: list[str]) -> int:
    """Run the job's stages in this process; 0 on success, 1 after writing the exception."""
    job_path, index, n_workers = Path(argv[0]), int(argv[1]), int(argv[2])
    import optuna
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // n_workers))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    job = pickle.loads(job_path.read_bytes())
    try:
        run_round(job)
    except Exception as exc:
        try:
            payload = pickle.dumps(exc)
        except Exception:  # an exception that cannot be pickled: keep its words
            payload = pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))
        error_path(job_path, index).write_bytes(payload)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
