"""Step time in words: what :class:`~trainwell.train.StepProfiler` measured, judged.

The profiler (:mod:`trainwell.train.step_profile`) only measures where a training step's
time goes; this module says what the numbers mean for the user: the headline, and a
sentence for each part that dominates the step, with what would make it faster. The
report's speed section and ``trainwell fit`` print these sentences.
"""

from __future__ import annotations

from typing import Any

from ..train.step_profile import GATHER, MATMULS, OPTIMIZER, OTHER, OVERHEAD

__all__ = ["CONTENDED_BELOW", "step_time_advice"]

#: Share of its threads' time a CPU step got on the cores (``cpu_share``) below which other
#: processes are named as the cause of a slow step. Measured (bench/threads.md, 2-core EPYC):
#: a busy spinning process per core brought it to 0.10-0.15 and with six other jobs sharing
#: the machine 0.20-0.63; on the quiet machine (load 0.1) 1.00 on one thread, 0.88-0.98 on two.
CONTENDED_BELOW = 0.7


def step_time_advice(result: dict[str, Any] | None) -> list[str]:
    """The step-time measurement of :class:`~trainwell.train.StepProfiler` in plain sentences, headline first.

    Parameters
    ----------
    result : dict or None
        ``StepProfiler.result``, ``run.step_time`` or ``diagnostics.json``'s
        ``run.step_time``.

    Returns
    -------
    list of str
        The headline, then one sentence per part that dominates the step (``[]`` for
        ``None``; one sentence saying why when the step time was not measured).
    """
    if not result:
        return []
    if "reason" in result:
        return [f"Step time not measured: {result['reason']}."]
    wall, parts, bs = result["step_seconds"], result["parts"], result["batch_size"]
    share = {p: (s / wall if wall else 0.0) for p, s in parts.items()}
    on = "the GPU" if result["device"].startswith("cuda") else "the CPU"
    lines = [f"A training step takes {wall * 1e3:.2f} ms on {on} ({result['samples_per_second']:,.0f} samples/s "
             f"at batch {bs}), on the {result['path']}."]
    if share[OVERHEAD] >= 0.5:
        lines.append(f"{share[OVERHEAD]:.0%} of each step is {OVERHEAD.lower()}, not arithmetic: the network is "
                     f"small for {on}. A larger batch (say {2 * bs}) does twice the samples per step for "
                     "little more time per step.")
        if result.get("graphs_reason"):
            lines.append(f"CUDA graphs, which remove most launch overhead, are off: {result['graphs_reason']}.")
    if share[MATMULS] >= 0.6:
        lines.append(f"The {MATMULS} take {share[MATMULS]:.0%} of each step: it is bound by arithmetic, so "
                     "only fewer FLOPs (a narrower network) or faster arithmetic (a GPU, bf16 on one) "
                     "make it much faster.")
    if share[GATHER] >= 0.2:
        lines.append(f"Gathering batches takes {share[GATHER]:.0%} of each step: each step reads random rows "
                     "of the data set from memory (a memory-mapped file pays this most).")
    if share[OPTIMIZER] >= 0.25:
        why = f" ({result['fast_reason']})" if result.get("fast_reason") else ""
        lines.append(f"The {OPTIMIZER} takes {share[OPTIMIZER]:.0%} of each step{why}: a fused optimizer "
                     "(adam, sgd, momentum, nesterov) on flat parameters is cheapest.")
    lines += _contention_advice(result)
    if share[OTHER] >= 0.4:
        lines.append(f"{OTHER.capitalize()} (batch norm, activations, the loss, augmentation) take "
                     f"{share[OTHER]:.0%} of each step.")
    return lines


def _contention_advice(result: dict[str, Any]) -> list[str]:
    """A sentence when the step waited for the CPU behind other processes (wall far above CPU time)."""
    cpu_share = result.get("cpu_share")
    if cpu_share is None or cpu_share >= CONTENDED_BELOW:
        return []
    threads, load, cores = result.get("threads", 1), result.get("load_average"), result.get("cores")
    busy = f" (load average {load:.1f} on {cores} cores)" if load is not None and cores else ""
    whose = "its thread's" if threads == 1 else f"its {threads} threads'"
    line = (f"The step got only {cpu_share:.0%} of {whose} time on the "
            f"CPU: other processes are using these cores{busy}, so each step waits for them and the times "
            "above are slower than the arithmetic needs.")
    if threads > 1:
        line += (" Threads that wait for busy cores slow every step down (bench/threads.md: 1.8-17x); "
                 "on a shared machine train with threads=1 (--threads 1).")
    return [line]
