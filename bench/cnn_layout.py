"""The default CNN on the CPU in channels-last against the contiguous layout: ``python bench/cnn_layout.py``.

Both layouts train the same network (trainwell's default conv blocks, batch norm, ReLU,
max-pooling, global average pooling, a dense layer of 128) through ``fit_loop`` on the same
synthetic images, one epoch each in turns (median of 5 after a warm-up epoch), and write
``bench/cnn_layout.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine, table, time_round_robin  # noqa: E402
from trainwell.nn import ConvBlock, NetworkSpec, build_network, make_loss  # noqa: E402
from trainwell.train import TrainConfig, fit_loop  # noqa: E402

CASES = {"8x8, 1 channel": ((1, 8, 8), 3000), "28x28, 1 channel": ((1, 28, 28), 3000),
         "32x32, 3 channels": ((3, 32, 32), 2000)}
CONV = (ConvBlock(32, 3, 2), ConvBlock(64, 3, 2), ConvBlock(128, 3, 0))


def epoch_of(shape: tuple[int, ...], n: int, channels_last: bool):
    """One more epoch of the default CNN per call, in the given layout."""
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(n, *shape, generator=g), torch.randint(0, 10, (n,), generator=g)
    net = build_network(NetworkSpec(kind="cnn", input_shape=shape, n_outputs=10, hidden=(128,), conv=CONV),
                        generator=torch.Generator().manual_seed(0))
    config = TrainConfig(batch_size=128, max_epochs=10**9, channels_last=channels_last)
    state = {"run": None}
    gen = torch.Generator().manual_seed(1)

    def epoch() -> None:
        state["run"] = fit_loop(net, make_loss("cross_entropy"), (X, y), None, config, [], generator=gen,
                                run=state["run"], epochs=1)

    return epoch


def main() -> None:
    rows = []
    for name, (shape, n) in CASES.items():
        timings = time_round_robin({layout: epoch_of(shape, n, layout == "channels-last")
                                    for layout in ("contiguous", "channels-last")}, repeats=5)
        cont, last = timings["contiguous"].median, timings["channels-last"].median
        rows.append([name, f"{n:,}", f"{cont:.3f}", f"{last:.3f}", f"{cont / last:.2f}x"])
        print(rows[-1], flush=True)
    info = machine()
    text = "\n".join([
        "# The default CNN on the CPU: channels-last against contiguous", "",
        "Written by `python bench/cnn_layout.py`. Both layouts train trainwell's default CNN (conv blocks of 32, 64 "
        "and 128 channels, batch norm, ReLU, max-pooling, global average pooling, dense 128) with `fit_loop`, "
        "batch 128, Adam, on the same synthetic images; one epoch each in turns, median of 5 after a warm-up epoch.",
        "", table(["", ""], [[k, v] for k, v in info.items()]), "",
        table(["images", "samples", "contiguous s / epoch", "channels-last s / epoch", "speed-up"], rows), ""])
    out = Path(__file__).with_name("cnn_layout.md")
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
