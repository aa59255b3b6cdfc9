"""Hierarchical softmax against a full softmax over 20,000 classes: time per training step."""

from __future__ import annotations

from collections.abc import Callable

import torch

from trainwell.nn import NetworkSpec, build_network, make_loss
from trainwell.train import TrainConfig, fit_loop

from .common import HIDDEN, N_FEATURES, table, time_round_robin


def step_times(n_classes: int, bs: int, steps: int, repeats: int, log: Callable[[str], None]) -> str:
    """Seconds per step of the 784-256-128 MLP with each head, trained by trainwell's loop."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(bs * steps, N_FEATURES, generator=g)
    y = torch.randint(0, n_classes, (bs * steps,), generator=g)
    cases = [
        ("hierarchical softmax (HierarchicalSoftmaxHead)", "hierarchical_softmax", "hierarchical_softmax", False),
        ("full softmax (nn.Linear + cross_entropy)", "linear", "cross_entropy", False),
        ("full softmax, trainwell fast path", "linear", "cross_entropy", True),
    ]
    epochs, runs = {}, {}
    for name, head, loss_name, fast in cases:
        spec = NetworkSpec(kind="mlp", input_shape=(N_FEATURES,), n_outputs=n_classes, hidden=HIDDEN, head=head)
        net = build_network(spec, generator=torch.Generator().manual_seed(0))
        loss = make_loss(loss_name)
        config = TrainConfig(batch_size=bs, max_epochs=10**9, fast=fast)
        runs[name] = {"run": None}

        def epoch(net=net, loss=loss, config=config, state=runs[name]) -> None:
            state["run"] = fit_loop(net, loss, (X, y), None, config, run=state["run"], epochs=1)

        epochs[name] = epoch
    timings = time_round_robin(epochs, repeats=repeats)
    rows, per_step = [], {}
    for name, *_ in cases:
        t = per_step[name] = timings[name].typical / steps
        used = runs[name]["run"].fast_path["used"]
        rows.append([name, f"{t * 1e3:.2f}", "fast path" if used else "autograd path"])
        log(f"  {name}: {t * 1e3:.2f} ms/step")
    hs, full = per_step[cases[0][0]], per_step[cases[1][0]]
    fast_full = per_step[cases[2][0]]
    text = table(["head", "ms / step (median)", "trainwell path"], rows)
    text += (f"\n\nRatio hierarchical / full softmax step time, both on the autograd path: **{hs / full:.2f}** "
             f"(against the full softmax on the fast path: {hs / fast_full:.2f}). Every step includes the "
             f"784-256-128 body, the backward pass and Adam over all parameters; batch {bs}, {n_classes:,} "
             f"classes, {steps} steps per epoch.")
    return text
