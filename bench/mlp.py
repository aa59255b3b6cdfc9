"""The MLP workloads: the side-by-side table, batch 1024 against the FLOP floor, scaling, breakdown."""

from __future__ import annotations

import statistics
from collections.abc import Callable

import torch
import torch.nn.functional as F

from trainwell.nn import make_loss
from trainwell.train.fast_mlp import FastMLPStep
from trainwell.train.flat import FlatParameters
from trainwell.train.optim import make_flat_optimizer
from trainwell.train.update import FlatUpdate

from . import peers
from .common import (
    HIDDEN,
    Timing,
    mlp,
    n_weights,
    synthetic_mnist,
    table,
    time_it,
    time_round_robin,
)

Log = Callable[[str], None]

CONTENDERS = [
    ("trainwell", lambda X, y, bs: peers.make_trainwell(X, y, bs, fast=True)),
    ("trainwell + default monitors", peers.make_trainwell_monitored),
    ("trainwell, bf16=True", peers.make_trainwell_bf16),
    ("trainwell, autograd path (fast=False)", lambda X, y, bs: peers.make_trainwell(X, y, bs, fast=False)),
    ("best plain eager loop", lambda X, y, bs: peers.make_eager(X, y, bs, fused=True)),
    ("plain eager loop, default Adam", lambda X, y, bs: peers.make_eager(X, y, bs, fused=False)),
    ("DataLoader loop", peers.make_dataloader),
    ("scikit-learn MLPClassifier", peers.make_sklearn),
    ("skorch", peers.make_skorch),
    ("Lightning", peers.make_lightning),
    ("GEMM-only floor", peers.make_gemm_floor),
]


def side_by_side(n: int, bs: int, repeats: int, log: Log) -> tuple[str, dict[str, Timing]]:
    """Every contender, one epoch of ``n`` samples at batch ``bs``: the main table.

    The contenders take turns (one epoch each per round), so load from other work on the
    machine falls on all of them alike.
    """
    X, y = synthetic_mnist(n)
    epochs: dict[str, Callable[[], None]] = {}
    notes: dict[str, str] = {}
    skipped: list[str] = []
    for name, make in CONTENDERS:
        made = make(X, y, bs)
        if isinstance(made, str):
            log(f"  {name}: skipped: {made}")
            skipped.append(f"- {name}: not measured: {made}.")
            continue
        epochs[name], notes[name] = made
    timings = time_round_robin(epochs, repeats=repeats, log=log)
    for name, t in timings.items():
        log(f"  {name}: {t.median:.3f} s/epoch wall, {t.cpu_median:.3f} CPU (wall runs: "
            f"{', '.join(f'{s:.3f}' for s in t.seconds)})")
    ours, ours_cpu = timings["trainwell"].median, timings["trainwell"].cpu_median
    rows = []
    for name, t in timings.items():
        rows.append([name, f"{t.median:.3f}", f"{n / t.median:,.0f}", f"{t.median / ours:.2f}x",
                     f"{t.cpu_median:.3f}", f"{t.cpu_median / ours_cpu:.2f}x", notes[name]])
    text = table(["contender", "s / epoch (median, wall)", "samples / s", "time vs trainwell",
                  "CPU s / epoch (median)", "CPU time vs trainwell", "notes"], rows)
    if skipped:
        text += "\n\n" + "\n".join(skipped)
    return text, timings


def gemm_rate(size: int = 2048, repeats: int = 5) -> float:
    """The machine's single-precision GEMM rate (FLOP/s) on a large square product."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    out = torch.empty(size, size)
    t = time_it(lambda: torch.mm(a, b, out=out), repeats=repeats).typical
    return 2 * size**3 / t


def flop_floor(n: int, bs: int, repeats: int, log: Log) -> str:
    """trainwell at a large batch against ``6 * params * N`` FLOPs at the measured GEMM rate."""
    X, y = synthetic_mnist(n)
    rate = gemm_rate()
    floor = 6 * n_weights() * n / rate
    gemm = peers.GemmFloor(bs)
    steps = n // bs
    fns: dict[str, Callable[[], object]] = {"matmuls": lambda: [gemm.step() for _ in range(steps)]}
    names = ("trainwell", "trainwell, bf16=True", "trainwell, autograd path (fast=False)", "best plain eager loop")
    for name in names:
        made = dict(CONTENDERS)[name](X, y, bs)
        if not isinstance(made, str):  # bf16 only where the CPU has bf16 instructions
            fns[name] = made[0]
    names = tuple(name for name in names if name in fns)
    timings = time_round_robin(fns, repeats=repeats)
    step_gemm = timings["matmuls"].typical * n / (steps * bs)
    rows = []
    for name in names:
        t = timings[name].typical
        rows.append([name, f"{t:.3f}", f"{floor / t:.0%}", f"{step_gemm / t:.0%}"])
        log(f"  batch {bs}: {name} {t:.3f} s/epoch, {floor / t:.0%} of the 6·params·N floor")
    head = (f"Measured GEMM rate (2048 x 2048 x 2048 single-precision product): {rate / 1e9:.1f} GFLOP/s. "
            f"Floor = 6 x {n_weights():,} weights x {n:,} samples / rate = {floor:.3f} s per epoch. "
            f"The step's own eight matrix multiplies at batch {bs} take {step_gemm:.3f} s per epoch "
            f"(they skip the first layer's input gradient, so they do less than 6·params·N, at a "
            f"lower rate than the square product). A bf16 row multiplies at the bf16 rate, so it may pass "
            f"these float32 floors.\n\n")
    return head + table(["contender", "s / epoch (median)", "fraction of the 6·params·N floor",
                         "fraction of the step-matmul floor"], rows)


def scaling(sizes: list[int], bs: int, repeats: dict[int, int], log: Log) -> str:
    """trainwell's epoch time against the number of samples (the data set is resident).

    ``repeats`` maps a size to its number of timed epochs (default 5, after one warm-up).
    """
    rows = []
    for n in sizes:
        X, y = synthetic_mnist(n, seed=n)
        epoch, _ = peers.make_trainwell(X, y, bs)
        k = repeats.get(n, 5)
        t = time_it(epoch, repeats=k).typical
        how = f"median of {k} full epochs after one warm-up epoch"
        rows.append([f"{n:,}", f"{t:.3f}", f"{t / n * 1e6:.2f}", f"{n / t:,.0f}", how])
        log(f"  {n:,} samples: {t:.3f} s/epoch")
        del X, y, epoch
    return table(["samples", "s / epoch", "µs / sample", "samples / s", "how"], rows)


def flat_adam_update() -> FlatUpdate:
    """The fast step's update alone: fused Adam on the benchmark MLP's flat buffer, with a gradient in it."""
    flat = FlatParameters(mlp())
    update = FlatUpdate(flat, make_flat_optimizer("adam", flat, 1e-3, 0.9, 1e-4))
    flat.grad.normal_()
    return update


def breakdown(n: int, bs: int, repeats: int, log: Log, epoch_seconds: dict[str, float],
              figures: dict[str, float] | None = None) -> str:
    """Where a step's time goes: the matmuls, the optimizer update, everything else.

    ``figures``, if given, receives the seconds per step the text reports: ``step`` (trainwell's
    measured step), ``kernels`` (the sum of its own kernels, each timed alone) and, when the
    best plain eager loop was timed, ``eager`` (its step): issue 22's second target reads them.
    """
    steps = -(-n // bs)
    X, y = synthetic_mnist(bs * 4)
    gemm = peers.GemmFloor(bs)

    update = flat_adam_update()

    ref = mlp()
    ref_opt = torch.optim.Adam(peers.adam_groups(ref), lr=1e-3, fused=True)
    F.cross_entropy(ref(X[:bs]), y[:bs]).backward()

    step_net = mlp()
    step = FastMLPStep(step_net, make_loss("cross_entropy"), FlatParameters(step_net), lambda: None)
    xb, yb = X[:bs].contiguous(), y[:bs].contiguous()
    timings = time_round_robin({
        "gemm": lambda: [gemm.step() for _ in range(steps)],
        "update": lambda: [update() for _ in range(steps)],
        "torch": lambda: [ref_opt.step() for _ in range(steps)],
        "fwd_bwd": lambda: [step(xb, yb) for _ in range(steps)],
    }, repeats=repeats)
    t_gemm, t_update = timings["gemm"].typical / steps, timings["update"].typical / steps
    t_torch_opt, t_fwd_bwd = timings["torch"].typical / steps, timings["fwd_bwd"].typical / steps

    rows = []
    for name, opt_time, label in [("trainwell", t_update, "fused kernel called directly on the flat buffer"),
                                  ("best plain eager loop", t_torch_opt, "torch.optim.Adam(fused=True).step()")]:
        total = epoch_seconds[name] / steps
        rest = total - t_gemm - opt_time
        rows.append([name, f"{total * 1e6:,.0f}", f"{t_gemm * 1e6:,.0f} ({t_gemm / total:.0%})",
                     f"{opt_time * 1e6:,.0f} ({opt_time / total:.0%})", f"{rest * 1e6:,.0f} ({rest / total:.0%})",
                     label])
        log(f"  {name}: step {total * 1e6:.0f} us = matmuls {t_gemm * 1e6:.0f} + optimizer {opt_time * 1e6:.0f} "
            f"+ rest {rest * 1e6:.0f}")
    text = table(["loop", "µs / step (epoch / steps)", "matmuls", "optimizer", "the rest", "optimizer call"], rows)
    text += (f"\n\ntrainwell's forward + hand-derived backward alone on one resident batch (no update, no "
             f"data gathering, no loop): {t_fwd_bwd * 1e6:,.0f} µs per step, of which the matmuls are "
             f"{t_gemm / t_fwd_bwd:.0%}.")
    paired = step_against_kernels(n, bs, 4 * repeats, log)
    kernels, sums, measured_rounds = paired["kernels"], paired["sums"], paired["step"]
    total, measured = statistics.median(sums), statistics.median(measured_rounds)
    ratios = [s / k for s, k in zip(measured_rounds, sums, strict=True)]
    ratio = statistics.median(ratios)
    rows = [[name, f"{statistics.median(t) * 1e6:,.0f}", f"{statistics.median(t) / total:.0%}"]
            for name, t in kernels.items()]
    rows.append(["**sum: the step's own kernels, each timed alone**", f"**{total * 1e6:,.0f}**", "100%"])
    rows.append(["trainwell's measured step (epoch / steps)", f"{measured * 1e6:,.0f}", f"{measured / total:.0%}"])
    rows.append([f"**the step over its kernels, median of the {len(ratios)} rounds' ratios** (lowest–highest)",
                 f"**{ratio:.2f}x** ({min(ratios):.2f}–{max(ratios):.2f})", ""])
    rows.append(["the fastest round's step over the sum of each kernel's fastest round (the least disturbed times)",
                 f"{min(measured_rounds) / sum(min(t) for t in kernels.values()):.2f}x", ""])
    text += ("\n\nThe ATen kernels a fast step cannot do without, each timed alone in a loop on resident "
             "buffers (a lower bound for any loop that launches them one by one from Python). They take turns "
             f"with trainwell's epoch and the best plain eager loop's in {len(ratios)} rounds, so a drift of the "
             "machine falls on the step and its kernels alike; the ratio is taken round by round:\n\n"
             + table(["work per step", "µs (median)", "share of the sum"], rows))
    eager_rounds = paired["eager"]
    eager = statistics.median(eager_rounds)
    speedup = statistics.median([e / s for e, s in zip(eager_rounds, measured_rounds, strict=True)])
    bound = statistics.median([e / k for e, k in zip(eager_rounds, sums, strict=True)])
    if figures is not None:
        figures.update(step=measured, kernels=total, ratio=ratio, eager=eager, rounds=len(ratios),
                       ratio_lo=min(ratios), ratio_hi=max(ratios), speedup=speedup, bound=bound)
    need = eager / 1.8
    text += (f"\n\nTo be 1.8x faster than the best plain eager loop (its step {eager * 1e6:,.0f} µs in the same "
             f"rounds), a step would have to take {need * 1e6:,.0f} µs; its own kernels, launched back to back "
             f"with no Python in between, already take {total * 1e6:,.0f} µs ({total / need:.0%} of that budget). "
             f"Round by round (medians of the ratios): trainwell's step is {speedup:.2f}x faster than the eager "
             f"loop's, and its kernels would allow at most {bound:.2f}x.")
    return text


def step_against_kernels(n: int, bs: int, rounds: int, log: Log) -> dict:
    """trainwell's step, the best eager loop's step and each of the step's kernels, timed in the same rounds.

    Returns per-round seconds per step: ``step`` (trainwell's epoch / steps), ``eager``, ``kernels``
    (a list per kernel group) and ``sums`` (the kernels' sum in each round). Timed in turns, so the
    ratio of the step to its kernels is read within a round, where both met the same machine.
    """
    steps = -(-n // bs)
    X, y = synthetic_mnist(n)
    trainwell_epoch, _ = peers.make_trainwell(X, y, bs)
    eager_epoch, _ = peers.make_eager(X, y, bs, fused=True)
    gemm = peers.GemmFloor(bs)
    update = flat_adam_update()
    groups = kernel_groups(bs)
    groups["matmuls (the GEMM-only floor)"] = gemm.step
    groups["Adam update (fused kernel on the flat buffer)"] = update
    fns: dict[str, Callable[[], object]] = {"step": trainwell_epoch, "eager": eager_epoch}
    fns.update({k: (lambda f=f: [f() for _ in range(steps)]) for k, f in groups.items()})
    log(f"  the step against its kernels: {rounds} rounds")
    timings = time_round_robin(fns, repeats=rounds)
    per_step = {k: [t / steps for t in v.typical_samples] for k, v in timings.items()}
    kernels = {k: per_step[k] for k in groups}
    sums = [sum(values) for values in zip(*kernels.values(), strict=True)]
    return {"step": per_step["step"], "eager": per_step["eager"], "kernels": kernels, "sums": sums}


def kernel_groups(bs: int) -> dict[str, Callable[[], None]]:
    """One step's worth of the fast step's non-matmul kernels, by group, on resident buffers.

    Batch norm forward and backward through ATen (both hidden layers), ReLU and its
    backward, the softmax cross-entropy and its gradient, and gathering a batch of random
    rows: the work :class:`~trainwell.train.fast_mlp.FastMLPStep` does besides its
    matrix multiplies and its update.
    """
    aten = torch.ops.aten
    X, y = synthetic_mnist(60_000)
    perm = torch.randperm(X.shape[0])[:bs]
    xbuf = torch.empty(bs, X.shape[1])
    layers = []
    for width in HIDDEN:
        z, a, g = torch.randn(bs, width), torch.empty(bs, width), torch.randn(bs, width)
        stats = (torch.zeros(width), torch.ones(width), torch.empty(width), torch.empty(width))
        layers.append((z, a, g, torch.ones(width), torch.zeros(width), stats))
    scores, grad, yb = torch.randn(bs, 10), torch.empty(bs, 10), y[:bs].contiguous()
    minus_ones = torch.full((bs, 1), -1.0)

    def batch_norm() -> None:
        for z, a, g, gamma, beta, (rm, rv, mean, invstd) in layers:
            torch.native_batch_norm(z, gamma, beta, rm, rv, True, 0.1, 1e-5, out=(a, mean, invstd))
            aten.native_batch_norm_backward.default(g, z, gamma, rm, rv, mean, invstd, True, 1e-5,
                                                    [True, True, True])

    def relu() -> None:
        for z, a, g, *_ in layers:
            torch.clamp_min(z, 0, out=a)
            aten.threshold_backward.grad_input(g, a, 0, grad_input=g)

    def loss() -> None:
        torch._log_softmax(scores, 1, False, out=grad)
        torch._C._nn.nll_loss(grad, yb, None, 1, -100)
        grad.exp_().scatter_add_(1, yb.unsqueeze(1), minus_ones).mul_(1.0 / bs)
        torch.argmax(scores, 1)

    def gather() -> None:
        torch.index_select(X, 0, perm, out=xbuf)

    return {"batch norm, forward and backward (ATen)": batch_norm, "ReLU and its backward": relu,
            "softmax cross-entropy, its gradient, argmax": loss, "gathering a batch (index_select)": gather}
