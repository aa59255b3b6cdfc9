"""How many intra-op threads a training run uses (``threads="auto"``), and setting them for one fit.

Small networks gain nothing from a second thread: each kernel of their step is too short to
split, and the threads' hand-offs cost more than they save. On a machine whose cores are busy
with other work, the idle threads spin against those processes and an epoch of 0.02 s takes
seconds (measured: ``trainwell fit`` on a 500-row table, 33.5 s with torch's default threads on
a loaded 2-core machine, 10.6 s single-threaded). So the rule counts the work of one step and
runs below :data:`ONE_THREAD_BELOW` multiply-adds on one thread; ``bench/threads.py`` measures
where a second thread starts to pay (``bench/threads.md``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

#: Multiply-adds of one forward pass of a batch below which a step runs on one thread.
#: bench/threads.md, 2-core AMD EPYC, quiet: a second thread gains nothing at 0.35 M and 1.6 M
#: (1.05x, 0.97x the time) and pays from 7.5 M (0.77x); the threshold sits between. With the
#: cores busy, two threads were 1.8-17x slower at every size measured: there, pass threads=1.
#: The rule reads only the network and the batch, never the machine's load, so a fixed seed
#: gives the same run (float sums depend on the thread count) whatever else is running.
ONE_THREAD_BELOW = 4_000_000


def step_macs(layer_sizes: tuple[int, ...], batch_size: int) -> int:
    """Multiply-adds of one forward pass of a dense network with these layer widths over a batch."""
    return batch_size * sum(a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:], strict=True))


def auto_threads(macs: int | None) -> int | None:
    """Threads for ``threads="auto"``: 1 for a step of fewer than :data:`ONE_THREAD_BELOW`
    multiply-adds, else ``None`` (torch's default: every core). ``macs=None`` (not counted,
    e.g. a CNN, whose convolutions do split well) keeps the default."""
    if macs is not None and macs < ONE_THREAD_BELOW:
        return 1
    return None


@contextlib.contextmanager
def intra_op_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)`` and put the previous count back after;
    ``None`` changes nothing."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)
