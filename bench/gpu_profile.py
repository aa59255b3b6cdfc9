"""Where a replayed MLP step's GPU time goes: ``python -m bench.gpu_profile`` on a CUDA machine.

Prints the kernels of one eager fast step (torch.profiler, CUDA time per kernel), the
GPU time of one replayed step (CUDA events around back-to-back replays) and the host
time of the training loop per step, for the benchmark MLP at batch 128.
"""

from __future__ import annotations

import time

import torch
from torch.profiler import ProfilerActivity, profile

from trainwell.nn import make_loss
from trainwell.train.cuda_graph import GraphedSteps
from trainwell.train.fast_mlp import FastMLPStep
from trainwell.train.flat import FlatParameters
from trainwell.train.optim import make_flat_optimizer
from trainwell.train.update import FlatUpdate

from . import peers
from .common import mlp, synthetic_mnist


def _gpu_us(fn, repeats: int = 200) -> float:
    for _ in range(10):
        fn()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(20):
            fn()
    torch.cuda.synchronize()
    start.record()
    for _ in range(repeats // 20):
        graph.replay()
    stop.record()
    torch.cuda.synchronize()
    return start.elapsed_time(stop) * 1000 / repeats


def variants(bs: int = 128) -> None:
    """GPU time of the first layer's weight gradient and of Adam on the flat buffer, several ways."""
    g = torch.randn(bs, 256, device="cuda")
    x = torch.randn(bs, 784, device="cuda")
    gw = torch.empty(256, 784, device="cuda")
    gt = torch.empty(256, bs, device="cuda")
    blocks = torch.empty(4, 64, 784, device="cuda")
    ways = {
        "mm(g.t(), x)": lambda: torch.mm(g.t(), x, out=gw),
        "mm(x.t(), g) into gw.t()": lambda: torch.mm(x.t(), g, out=gw.t()),
        "g.t() copied, then mm": lambda: torch.mm(gt.copy_(g.t()), x, out=gw),
        "bmm over 4 row blocks": lambda: torch.bmm(g.t().reshape(4, 64, bs), x.expand(4, bs, 784), out=blocks),
        "forward mm(x, W.t())": lambda: torch.mm(x, gw.t(), out=g),
    }
    for name, fn in ways.items():
        print(f"{name}: {_gpu_us(fn):.1f} µs")
    torch.backends.cuda.matmul.allow_tf32 = True
    print(f"mm(g.t(), x) with TF32: {_gpu_us(ways['mm(g.t(), x)']):.1f} µs")
    torch.backends.cuda.matmul.allow_tf32 = False
    n = 234_752
    p, gr, m, v = (torch.randn(n, device="cuda") for _ in range(4))
    step = torch.ones((), device="cuda")
    lr = torch.tensor(1e-3, device="cuda")
    for k in (1, 8, 36, 72, 144):
        ps, gs, ms, vs = ([*torch.tensor_split(t, k)] for t in (p, gr, m, v))

        def adam(ps=ps, gs=gs, ms=ms, vs=vs, k=k) -> None:
            torch._fused_adam_(ps, gs, ms, vs, [], [step] * k, lr=lr, beta1=0.9, beta2=0.999, weight_decay=1e-4,
                               eps=1e-8, amsgrad=False, maximize=False)
        print(f"fused Adam on {n:,} weights in {k} pieces: {_gpu_us(adam):.1f} µs")


def head_variants(bs: int = 128) -> None:
    """The 10-class head's small products and sums, several ways (cuBLAS picks poorly at M=10)."""
    h = torch.randn(bs, 128, device="cuda")
    g = torch.randn(bs, 10, device="cuda")
    w = torch.randn(10, 128, device="cuda")
    b = torch.randn(10, device="cuda")
    gw, gb, z, gh = torch.empty(10, 128, device="cuda"), torch.empty(10, device="cuda"), \
        torch.empty(bs, 10, device="cuda"), torch.empty(bs, 128, device="cuda")
    ones = torch.ones(1, bs, device="cuda")
    wt = w.t().contiguous()
    gt = torch.empty(10, bs, device="cuda")
    ways = {
        "gw: mm(g.t(), h)": lambda: torch.mm(g.t(), h, out=gw),
        "gw: mm(h.t(), g) into gw.t()": lambda: torch.mm(h.t(), g, out=gw.t()),
        "gw: g.t() copied, then mm": lambda: torch.mm(gt.copy_(g.t()), h, out=gw),
        "gw: broadcast multiply and sum": lambda: torch.sum(g.t().unsqueeze(2) * h.unsqueeze(0), 1, out=gw),
        "gw: bmm 1 batch": lambda: torch.bmm(g.t().unsqueeze(0), h.unsqueeze(0), out=gw.unsqueeze(0)),
        "gb: sum(g, 0)": lambda: torch.sum(g, 0, out=gb),
        "gb: mm(ones, g)": lambda: torch.mm(ones, g, out=gb.unsqueeze(0)),
        "gb: mv(g.t(), ones)": lambda: torch.mv(g.t(), ones[0], out=gb),
        "fwd: addmm(b, h, w.t())": lambda: torch.addmm(b, h, w.t(), out=z),
        "fwd: addmm(b, h, wt) (contiguous w.t())": lambda: torch.addmm(b, h, wt, out=z),
        "fwd: mm(h, w.t()) + b": lambda: torch.mm(h, w.t(), out=z).add_(b),
        "gh: mm(g, w)": lambda: torch.mm(g, w, out=gh),
        "gh: mm(w.t(), g.t()) into gh.t()": lambda: torch.mm(w.t(), g.t(), out=gh.t()),
    }
    for pad in (12, 16):
        gp = torch.zeros(bs, pad, device="cuda")
        gp[:, :10] = g
        zp = torch.zeros(bs, pad, device="cuda")
        wp = torch.zeros(pad, 128, device="cuda")
        wp[:10] = w
        wpt = torch.zeros(128, pad, device="cuda")
        wpt[:, :10] = w.t()
        bp = torch.zeros(pad, device="cuda")
        gwp = torch.empty(pad, 128, device="cuda")
        ways.update({
            f"pad {pad}: gw mm(gp[:, :10].t(), h)": lambda gp=gp: torch.mm(gp[:, :10].t(), h, out=gw),
            f"pad {pad}: gw mm(gp.t(), h) padded rows": lambda gp=gp, gwp=gwp: torch.mm(gp.t(), h, out=gwp),
            f"pad {pad}: fwd addmm into zp[:, :10]": lambda zp=zp: torch.addmm(b, h, wt, out=zp[:, :10]),
            f"pad {pad}: fwd addmm padded weights": lambda zp=zp, wpt=wpt, bp=bp: torch.addmm(bp, h, wpt, out=zp),
            f"pad {pad}: gb sum(gp[:, :10], 0)": lambda gp=gp: torch.sum(gp[:, :10], 0, out=gb),
            f"pad {pad}: gh mm(gp[:, :10], w)": lambda gp=gp: torch.mm(gp[:, :10], w, out=gh),
            f"pad {pad}: gh mm(gp, wp) padded": lambda gp=gp, wp=wp: torch.mm(gp, wp, out=gh),
            f"pad {pad}: log_softmax on the view": lambda zp=zp: torch._log_softmax(zp[:, :10], 1, False),
        })
    ways["log_softmax contiguous"] = lambda: torch._log_softmax(z, 1, False)
    for name, fn in ways.items():
        print(f"{name}: {_gpu_us(fn):.1f} µs")


def main(bs: int = 128, n: int = 60_000) -> None:
    head_variants(bs)
    variants(bs)
    X, y = synthetic_mnist(n, device="cuda")
    net = mlp(device="cuda")
    flat = FlatParameters(net)
    update = FlatUpdate(flat, make_flat_optimizer("adam", flat, 1e-3, 0.9, 1e-4))
    update.use_tensor_lr()
    fast = FastMLPStep(net, make_loss("cross_entropy"), flat, update)
    loss_sum = torch.zeros((), device="cuda")
    outputs = torch.empty(n, dtype=torch.long, device="cuda")
    graphed = GraphedSteps(fast.device_step, fast.host_step, X, y, bs, lambda xb: xb, loss_sum, outputs, True,
                           before=update.sync_lr)
    graphed.start_epoch(torch.randperm(n, device="cuda"))
    for start in range(0, 10 * bs, bs):
        graphed(start)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(20):
            graphed._step()
        torch.cuda.synchronize()
    events = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    print(f"eager step: {len(events) / 20:.0f} kernels, {sum(e.device_time for e in events) / 20:.1f} µs of kernel time")
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=40))
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], record_shapes=True) as ops:
        for _ in range(20):
            graphed._step()
        torch.cuda.synchronize()
    print("aten ops by GPU time (µs per step), with input shapes:")
    rows = [e for e in ops.key_averages(group_by_input_shape=True) if e.key.startswith("aten::")]
    rows.sort(key=lambda e: e.self_device_time_total, reverse=True)
    for e in rows[:16]:
        print(f"  {e.self_device_time_total / 20:7.1f} µs  {e.key}  {e.input_shapes}")
    steps = n // bs
    start_ev, stop_ev = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for _ in range(3):
        start_ev.record()
        t0 = time.perf_counter()
        for b in range(steps):
            graphed(b * bs)
        host = time.perf_counter() - t0
        stop_ev.record()
        torch.cuda.synchronize()
        wall = time.perf_counter() - t0
        gpu = start_ev.elapsed_time(stop_ev) / 1000
        print(f"replays: {steps} steps, host {host / steps * 1e6:.1f} µs/step, GPU {gpu / steps * 1e6:.1f} µs/step, "
              f"wall {wall / steps * 1e6:.1f} µs/step -> {n / wall:,.0f} samples/s")
    epoch, _ = peers.make_trainwell(X, y, bs)
    for _ in range(2):
        epoch()
    torch.cuda.synchronize()
    for _ in range(3):
        t0 = time.perf_counter()
        epoch()
        torch.cuda.synchronize()
        wall = time.perf_counter() - t0
        print(f"fit_loop epoch: {wall:.4f} s, {wall / steps * 1e6:.1f} µs/step, {n / wall:,.0f} samples/s")


if __name__ == "__main__":
    main()
