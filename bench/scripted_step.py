"""Issue 22's named lever, measured: the same step body run by TorchScript instead of Python.

    python -m bench.scripted_step [--batch 16] [--calls 3000]

A wine-sized MLP step (13-128-64-3, batch norm, ReLU, dropout noise given, softmax
cross-entropy, the hand-derived backward into kept buffers; no optimizer update: that is one
fused call either way) written once and run two ways, in turns: as Python calling ATen as
``trainwell.train.fast_mlp`` does, and compiled by TorchScript from the same source (four calls
respelled, :data:`TORCHSCRIPT_SPELLING`: TorchScript takes no ``out=`` tuple and no C++ entry points).
Both compute the same loss to the bit. Prints microseconds per call for each, on stdout.

``torch.jit.script`` warns in torch 2.13 that it is deprecated, which is why trainwell does
not build its step on it; this measures what it would have bought.
"""

from __future__ import annotations

import argparse
import inspect
import re
import statistics
import time
import warnings

import torch

_aten = torch.ops.aten
_RELU_BACKWARD = _aten.threshold_backward.grad_input._op
_BN_BACKWARD = _aten.native_batch_norm_backward.out._op


def python_step(x: torch.Tensor, y: torch.Tensor, p: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
    """The step as trainwell's fast path spells it (Python between ATen calls)."""
    w1t, g1, b1, rm1, rv1, w2t, g2, b2, rm2, rv2, wh, bh, n1, n2 = (
        p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], p[12], p[13])
    z1, a1, h1, z2, a2, h2, s, gs, m1, i1, m2, i2 = b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11]
    gw1, gg1, gb1, gw2, gg2, gb2, gwh, gbh, gh2, gz2, gh1, gz1 = (
        b[12], b[13], b[14], b[15], b[16], b[17], b[18], b[19], b[20], b[21], b[22], b[23])
    torch.mm(x, w1t, out=z1)
    torch.native_batch_norm(z1, g1, b1, rm1, rv1, True, 0.1, 1e-5, out=(a1, m1, i1))
    a1.relu_()
    torch.mul(a1, n1, out=h1)
    torch.mm(h1, w2t, out=z2)
    torch.native_batch_norm(z2, g2, b2, rm2, rv2, True, 0.1, 1e-5, out=(a2, m2, i2))
    a2.relu_()
    torch.mul(a2, n2, out=h2)
    torch.addmm(bh, h2, wh.t(), out=s)
    torch._log_softmax(s, 1, False, out=gs)
    loss = torch._C._nn.nll_loss(gs, y, None, 1, -100)
    gs.exp_()
    gs.scatter_add_(1, y.unsqueeze(1), torch.full_like(gs[:, :1], -1.0))
    gs.mul_(1.0 / x.shape[0])
    torch.mm(gs.t(), h2, out=gwh)
    torch.sum(gs, 0, out=gbh)
    torch.mm(gs, wh, out=gh2)
    gh2.mul_(n2)
    _RELU_BACKWARD(gh2, a2, 0.0, grad_input=gh2)
    _BN_BACKWARD(gh2, z2, g2, rm2, rv2, m2, i2, True, 1e-5, [True, True, True], out0=gz2, out1=gg2, out2=gb2)
    torch.mm(gz2.t(), h1, out=gw2)
    torch.mm(gz2, w2t.t(), out=gh1)
    gh1.mul_(n1)
    _RELU_BACKWARD(gh1, a1, 0.0, grad_input=gh1)
    _BN_BACKWARD(gh1, z1, g1, rm1, rv1, m1, i1, True, 1e-5, [True, True, True], out0=gz1, out1=gg1, out2=gb1)
    torch.mm(gz1.t(), x, out=gw1)
    return loss


#: How TorchScript spells the calls :func:`python_step` makes through Python's faster entry points
#: (it takes no ``out=`` tuple, no ``torch._C._nn`` and no overload's C++ callable).
TORCHSCRIPT_SPELLING = [
    (r"torch\.native_batch_norm\((.*), out=\((\w+), (\w+), (\w+)\)\)",
     r"torch.ops.aten.native_batch_norm(\1, out=\2, save_mean=\3, save_invstd=\4)"),
    (r"torch\._C\._nn\.nll_loss\(gs, y, None, 1, -100\)", "torch.nn.functional.nll_loss(gs, y)"),
    (r"_RELU_BACKWARD\(", "torch.ops.aten.threshold_backward("),
    (r"_BN_BACKWARD\(", "torch.ops.aten.native_batch_norm_backward("),
]


def scripted_step() -> torch.jit.ScriptFunction:
    """:func:`python_step`'s own source, respelled where TorchScript needs it, compiled by TorchScript."""
    source = inspect.getsource(python_step)
    for pattern, spelling in TORCHSCRIPT_SPELLING:
        source = re.sub(pattern, spelling, source)
    return torch.jit.CompilationUnit(source).python_step


def _problem(m: int, sizes: tuple[int, ...] = (13, 128, 64, 3)):
    gen = torch.Generator().manual_seed(0)
    d, h1, h2, c = sizes
    x, y = torch.randn(m, d, generator=gen), torch.randint(0, c, (m,), generator=gen)
    ones, zeros = torch.ones, torch.zeros
    noise = [(torch.rand(m, h, generator=gen) > 0.2).float() * 1.25 for h in (h1, h2)]
    params = [torch.randn(d, h1, generator=gen), ones(h1), zeros(h1), zeros(h1), ones(h1),
              torch.randn(h1, h2, generator=gen), ones(h2), zeros(h2), zeros(h2), ones(h2),
              torch.randn(c, h2, generator=gen), zeros(c), *noise]
    e = torch.empty
    bufs = [e(m, h1), e(m, h1), e(m, h1), e(m, h2), e(m, h2), e(m, h2), e(m, c), e(m, c), e(h1), e(h1), e(h2), e(h2),
            e(h1, d), e(h1), e(h1), e(h2, h1), e(h2), e(h2), e(c, h2), e(c), e(m, h2), e(m, h2), e(m, h1), e(m, h1)]
    return x, y, params, bufs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scripted_step", description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=16, help="rows per step (wine's default batch: 16)")
    parser.add_argument("--calls", type=int, default=3000, help="calls per timed round")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    x, y, params, bufs = _problem(args.batch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "torch.jit.script is deprecated": the reason it is measured, not used
        scripted = scripted_step()
    times: dict[str, list[float]] = {"python": [], "torchscript": []}
    with torch.no_grad():
        same = float(python_step(x, y, params, bufs)) == float(scripted(x, y, params, bufs))
        for _ in range(5):
            for name, fn in (("python", python_step), ("torchscript", scripted)):
                for _ in range(200):
                    fn(x, y, params, bufs)
                start = time.perf_counter()
                for _ in range(args.calls):
                    fn(x, y, params, bufs)
                times[name].append((time.perf_counter() - start) / args.calls)
    py, ts = statistics.median(times["python"]), statistics.median(times["torchscript"])
    print(f"batch {args.batch}, one thread, median of 5 rounds of {args.calls} calls: Python {py * 1e6:.1f} µs, "
          f"TorchScript {ts * 1e6:.1f} µs per step ({ts / py:.2f}x); same loss to the bit: {same}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
