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


def main(bs: int = 128, n: int = 60_000) -> None:
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
