"""The GPU part: runs only where CUDA is present (not exercised on a CPU-only machine)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from . import peers
from .common import synthetic_mnist, table, time_it


def gpu_reason() -> str | None:
    """Why the GPU part cannot run here, or ``None`` when it can."""
    if not torch.cuda.is_available():
        return "no CUDA device is visible to torch on this machine"
    return None


def mlp_on_gpu(n: int, bs: int, repeats: int, log: Callable[[str], None]) -> str:
    """The batch-128 MLP on the GPU: trainwell against the eager and DataLoader loops."""
    X, y = synthetic_mnist(n, device="cuda")
    sync = torch.cuda.synchronize
    rows = []
    contenders = [("trainwell", lambda: peers.make_trainwell(X, y, bs)),
                  ("best plain eager loop", lambda: peers.make_eager(X, y, bs)),
                  ("DataLoader loop (data on the GPU)", lambda: peers.make_dataloader(X, y, bs))]
    timings = {}
    for name, make in contenders:
        try:
            epoch, note = make()
            timings[name] = time_it(epoch, repeats=repeats, sync=sync).median
        except Exception as exc:  # a peer that cannot run on this device is reported, not fatal
            log(f"  {name}: failed on the GPU: {exc}")
            continue
        rows.append([name, f"{timings[name]:.3f}", f"{n / timings[name]:,.0f}", note])
        log(f"  {name}: {n / timings[name]:,.0f} samples/s")
    return f"Device: {torch.cuda.get_device_name()}\n\n" + table(
        ["contender", "s / epoch (median)", "samples / s", "notes"], rows)
