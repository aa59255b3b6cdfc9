"""Instructions one default fit + predict of a real table executes, counted by Valgrind's callgrind.

::

    python bench/instructions.py wine                       # this checkout's trainwell
    python bench/instructions.py wine --src /tmp/base/src   # another checkout's, for an A/B

Why: the shared hosts this project is measured on drift by 10-30 % from minute to minute, so
two timings of a change a few per cent wide say little. The number of instructions a fit executes
does not drift (two counts of the same code agree to about 0.1 %), and on this loop, bound by
per-operation overhead, it moves with the time. It is a proxy (it ignores cache misses and the
cost of each instruction), so a change is kept on time measured side by side too
(``bench/tabular.py``), and the count is reported beside it.

The child process imports everything and runs one warm-up fit (three epochs) with
instrumentation off, then the counted fit: ``trainwell``'s default estimator on the table's
80 % (split with seed 0, as ``bench/tabular.py`` does), and ``predict`` (``predict_proba`` for
classes) of the other 20 %. Needs ``valgrind`` on the PATH; a sketch of how the numbers in
``bench/tabular.md`` were taken, not part of the tests.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import os, sys, time, warnings
warnings.filterwarnings("ignore")
import torch
torch.set_num_threads(1)
sys.path.insert(0, {root!r})
from bench.tabular import load_table
from sklearn.model_selection import train_test_split
from trainwell import NeuralNetClassifier, NeuralNetRegressor
table = load_table({table!r})
classes = table.task == "classification"
X, X_test, y, _ = train_test_split(table.X, table.y, test_size=0.2, random_state=0,
                                   stratify=table.y if classes else None)
cls = NeuralNetClassifier if classes else NeuralNetRegressor
cls(random_state=0, max_epochs=3).fit(X, y).predict(X_test)
open({flag!r} + ".ready", "w").close()
while not os.path.exists({flag!r} + ".go"):
    time.sleep(0.05)
model = cls(random_state=0).fit(X, y)
model.predict_proba(X_test) if classes else model.predict(X_test)
os._exit(0)
"""


def count(table: str, src: Path) -> int:
    """Instructions of one default fit + predict of ``table`` with the trainwell in ``src``."""
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("valgrind is not installed; install it (apt-get install valgrind) to count instructions.")
    with tempfile.TemporaryDirectory() as tmp:
        flag = str(Path(tmp) / "flag")
        script = Path(tmp) / "child.py"
        script.write_text(CHILD.format(root=str(ROOT), table=table, flag=flag), encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
        # the interpreter itself, not a shim script: valgrind must follow the process that runs
        python = os.path.realpath(sys.executable)
        child = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={tmp}/out",
             python, str(script)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        while not os.path.exists(flag + ".ready"):
            if child.poll() is not None:
                raise SystemExit(f"the child stopped before its fit: {child.stderr.read()[-2000:]}")
            time.sleep(0.2)
        subprocess.run(["callgrind_control", "-i", "on", str(child.pid)], check=True, capture_output=True)
        Path(flag + ".go").touch()
        _, err = child.communicate()
    found = re.search(r"Collected : (\d+)", err)
    if found is None:
        raise SystemExit(f"callgrind reported no count: {err[-2000:]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("table", help="a table of bench/tabular.py (iris, wine, titanic, ...)")
    parser.add_argument("--src", default=str(ROOT / "src"), help="the src folder of the trainwell to count")
    args = parser.parse_args(argv)
    print(f"{args.table}\t{count(args.table, Path(args.src))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
