"""The GPU part: runs only where CUDA is present (skipped with a printed reason elsewhere).

Two workloads, every contender in one process and timed with the device synchronised:

- the benchmark MLP (784-256-128-10, batch norm) at batch 128 on 60,000 resident samples:
  trainwell (its steps replayed from CUDA graphs), trainwell launching every kernel from
  Python, the best plain eager loop, the same loop captured in a CUDA graph by hand, the
  textbook DataLoader loop and PyTorch Lightning;
- an airbench-like CNN on 50,000 32x32x3 images in bf16 and channels-last layout:
  trainwell against the same network in a plain eager loop and under ``torch.compile``,
  with its share of the GPU's measured bf16 matrix-multiply rate.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from trainwell.nn import ConvBlock, NetworkSpec, build_network, make_loss
from trainwell.train import TrainConfig, fit_loop

from . import peers
from .common import Timing, mlp, synthetic_mnist, table, time_it

Log = Callable[[str], None]
Epoch = Callable[[], None]


def gpu_reason() -> str | None:
    """Why the GPU part cannot run here, or ``None`` when it can."""
    if not torch.cuda.is_available():
        return "no CUDA device is visible to torch on this machine"
    return None


def matmul_rate(dtype: torch.dtype, size: int = 8192, repeats: int = 10) -> float:
    """Measured TFLOP/s of a ``size``-cubed matrix product in ``dtype`` (random data, CUDA events)."""
    a = torch.randn(size, size, device="cuda", dtype=dtype)
    b = torch.randn(size, size, device="cuda", dtype=dtype)
    for _ in range(3):
        a @ b
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeats):
        a @ b
    stop.record()
    torch.cuda.synchronize()
    seconds = start.elapsed_time(stop) / 1000 / repeats
    return 2 * size**3 / seconds / 1e12


# ----------------------------------------------------------------------------- MLP peers
def make_graphed_eager(X: torch.Tensor, y: torch.Tensor, bs: int) -> tuple[Epoch, str]:
    """The plain eager step captured whole in one CUDA graph by hand (PyTorch's documented recipe).

    The batch is gathered into static buffers outside the graph; full batches only.
    """
    net = mlp(device="cuda")
    opt = torch.optim.Adam(peers.adam_groups(net), lr=peers.LR, fused=True, capturable=True)
    xs, ys = torch.empty(bs, X.shape[1], device="cuda"), torch.empty(bs, dtype=torch.long, device="cuda")
    xs.copy_(X[:bs])
    ys.copy_(y[:bs])
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(xs), ys).backward()
            opt.step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        F.cross_entropy(net(xs), ys).backward()
        opt.step()
    n = X.shape[0]

    def epoch() -> None:
        perm = torch.randperm(n, device="cuda")
        for i in range(n // bs):
            idx = perm[i * bs:(i + 1) * bs]
            torch.index_select(X, 0, idx, out=xs)
            torch.index_select(y, 0, idx, out=ys)
            graph.replay()

    return epoch, "torch.cuda.graph around forward, backward and Adam(fused, capturable); batch copied in per step"


def make_dataloader_from_host(X: torch.Tensor, y: torch.Tensor, bs: int) -> tuple[Epoch, str]:
    """The textbook GPU loop: data in host memory, ``DataLoader(shuffle=True)``, ``.to("cuda")`` per batch."""
    from torch.utils.data import DataLoader, TensorDataset

    net = mlp(device="cuda")
    opt = torch.optim.Adam(peers.adam_groups(net), lr=peers.LR)
    loader = DataLoader(TensorDataset(X.cpu(), y.cpu()), batch_size=bs, shuffle=True)

    def epoch() -> None:
        net.train()
        for xb, yb in loader:
            if xb.shape[0] < 2:
                continue
            loss = F.cross_entropy(net(xb.to("cuda")), yb.to("cuda"))
            opt.zero_grad()
            loss.backward()
            opt.step()

    return epoch, "num_workers=0, default Adam, batches moved to the GPU per step"


MLP_CONTENDERS: list[tuple[str, Callable]] = [
    ("trainwell", lambda X, y, bs: peers.make_trainwell(X, y, bs)),
    ("trainwell + default monitors", peers.make_trainwell_monitored),
    ("trainwell, no CUDA graphs", lambda X, y, bs: peers.make_trainwell(X, y, bs, cuda_graphs=False)),
    ("trainwell, autograd path (fast=False)", lambda X, y, bs: peers.make_trainwell(X, y, bs, fast=False)),
    ("best plain eager loop", lambda X, y, bs: peers.make_eager(X, y, bs, fused=True)),
    ("plain eager step in a hand-made CUDA graph", make_graphed_eager),
    ("DataLoader loop, data on the GPU", peers.make_dataloader),
    ("DataLoader loop, data in host memory", make_dataloader_from_host),
    ("Lightning", peers.make_lightning),
]


def mlp_on_gpu(n: int, bs: int, repeats: int, log: Log) -> str:
    """The batch-128 MLP on the GPU: every contender, then the issue's targets."""
    X, y = synthetic_mnist(n, device="cuda")
    rows, timings = [], {}
    for name, make in MLP_CONTENDERS:
        try:
            made = make(X, y, bs)
            if isinstance(made, str):
                log(f"  {name}: skipped: {made}")
                continue
            epoch, note = made
            t = time_it(epoch, repeats=repeats, sync=torch.cuda.synchronize)
        except Exception as exc:  # a peer that cannot run on this device is reported, not fatal
            log(f"  {name}: failed on the GPU: {type(exc).__name__}: {exc}")
            rows.append([name, "failed", "", "", f"{type(exc).__name__}: {exc}"[:200]])
            continue
        timings[name] = t
        log(f"  {name}: {n / t.median:,.0f} samples/s ({', '.join(f'{s:.4f}' for s in t.seconds)} s)")
        rows.append([name, f"{t.median:.4f}", f"{n / t.median:,.0f}", "", note])
    ours = timings["trainwell"].median
    for row in rows:
        if row[0] in timings:
            row[3] = f"{timings[row[0]].median / ours:.1f}x"
    text = table(["contender", "s / epoch (median)", "samples / s", "time vs trainwell", "notes"], rows)
    return text + "\n\n" + "\n".join(_mlp_verdict(n, timings))


def _mlp_verdict(n: int, timings: dict[str, Timing]) -> list[str]:
    ours = timings["trainwell"].median
    lines = ["Targets (issue 4):", "",
             f"- trainwell: {n / ours:,.0f} samples/s; target ≥ 1,000,000: "
             f"{'met' if n / ours >= 1e6 else 'missed'}."]
    if "trainwell + default monitors" in timings:
        cost = timings["trainwell + default monitors"].median / ours - 1
        lines.append(f"- monitoring at its default sampling costs {cost:.0%}; target ≤ 10 %: "
                     f"{'met' if cost <= 0.10 else 'missed'}.")
    for name, target in [("DataLoader loop, data in host memory", 20), ("Lightning", 30)]:
        if name in timings:
            ratio = timings[name].median / ours
            lines.append(f"- vs {name}: {ratio:.1f}x faster; target ≥ {target}x: {'met' if ratio >= target else 'missed'}.")
    return lines


# ----------------------------------------------------------------------------- CNN
def cnn_spec() -> NetworkSpec:
    """An airbench-like CIFAR network in trainwell's spec: six 3x3 conv blocks, widths 64-256."""
    return NetworkSpec(kind="cnn", input_shape=(3, 32, 32), n_outputs=10, hidden=(),
                       conv=(ConvBlock(64, pool=0), ConvBlock(64), ConvBlock(256, pool=0), ConvBlock(256),
                             ConvBlock(256, pool=0), ConvBlock(256)))


def _cnn_data(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 3, 32, 32, generator=g).to("cuda"), torch.randint(0, 10, (n,), generator=g).to("cuda")


def make_cnn_trainwell(X: torch.Tensor, y: torch.Tensor, bs: int, cuda_graphs: bool = True,
                       augment: str | None = None) -> tuple[Epoch, str]:
    from trainwell.data.augment import parse_augment

    net = build_network(cnn_spec(), generator=torch.Generator().manual_seed(0)).to("cuda")
    loss = make_loss("cross_entropy")
    config = TrainConfig(batch_size=bs, lr=peers.LR, l2=peers.L2, max_epochs=10**9, bf16=True,
                         cuda_graphs=cuda_graphs, augment=parse_augment(augment, (3, 32, 32)))
    state: dict = {"run": None}
    gen = torch.Generator(device="cuda").manual_seed(1)

    def epoch() -> None:
        state["run"] = fit_loop(net, loss, (X, y), None, config, generator=gen, run=state["run"], epochs=1)

    graphs = cuda_graphs and augment is None  # augmentation keeps the steps eager
    return epoch, ("fit_loop, bf16=True (autocast), channels-last, " + ("CUDA graphs" if graphs else "no graphs")
                   + (f", augment={augment!r}" if augment else ""))


def make_cnn_eager(X: torch.Tensor, y: torch.Tensor, bs: int, compile_mode: str | None = None) -> tuple[Epoch, str]:
    net = build_network(cnn_spec(), generator=torch.Generator().manual_seed(0)).to("cuda")
    net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(peers.adam_groups(net), lr=peers.LR, fused=True)
    model = net if compile_mode is None else torch.compile(net, mode=compile_mode)
    n = X.shape[0]

    def epoch() -> None:
        net.train()
        perm = torch.randperm(n, device="cuda")
        for i in range(n // bs):
            idx = perm[i * bs:(i + 1) * bs]
            xb = X[idx].contiguous(memory_format=torch.channels_last)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                loss = F.cross_entropy(model(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    how = "eager" if compile_mode is None else f"torch.compile(mode={compile_mode!r})"
    return epoch, f"{how}, autocast bf16, channels-last, Adam(fused=True), data resident"


def cnn_flops_per_sample(bs: int) -> float:
    """Forward + backward FLOPs of one training sample, counted by ``torch.utils.flop_counter``."""
    from torch.utils.flop_counter import FlopCounterMode

    net = build_network(cnn_spec()).to("cuda")
    x = torch.randn(bs, 3, 32, 32, device="cuda")
    yb = torch.randint(0, 10, (bs,), device="cuda")
    counter = FlopCounterMode(display=False)
    with counter:
        F.cross_entropy(net(x), yb).backward()
    return counter.get_total_flops() / bs


def cnn_on_gpu(n: int, bs: int, repeats: int, log: Log, bf16_rate: float) -> str:
    """The airbench-like CNN: trainwell against eager and compiled PyTorch."""
    X, y = _cnn_data(n)
    contenders = [
        ("trainwell", lambda: make_cnn_trainwell(X, y, bs)),
        ("trainwell, no CUDA graphs", lambda: make_cnn_trainwell(X, y, bs, cuda_graphs=False)),
        ("trainwell with random shifts (augment='shift')", lambda: make_cnn_trainwell(X, y, bs, augment="shift")),
        ("plain eager loop", lambda: make_cnn_eager(X, y, bs)),
        ("plain loop, torch.compile", lambda: make_cnn_eager(X, y, bs, "default")),
        ("plain loop, torch.compile max-autotune", lambda: make_cnn_eager(X, y, bs, "max-autotune")),
    ]
    flops = cnn_flops_per_sample(bs)
    rows, timings = [], {}
    for name, make in contenders:
        try:
            epoch, note = make()
            t = time_it(epoch, repeats=repeats, warmup=2, sync=torch.cuda.synchronize)
        except Exception as exc:
            log(f"  {name}: failed: {type(exc).__name__}: {exc}")
            rows.append([name, "failed", "", "", "", f"{type(exc).__name__}: {exc}"[:200]])
            continue
        timings[name] = t
        rate = flops * n / t.median / 1e12
        log(f"  {name}: {n / t.median:,.0f} images/s, {rate:.0f} TFLOP/s")
        rows.append([name, f"{t.median:.3f}", f"{n / t.median:,.0f}", "", f"{rate:.0f} ({rate / bf16_rate:.0%})", note])
    ours = timings["trainwell"].median
    for row in rows:
        if row[0] in timings:
            row[3] = f"{timings[row[0]].median / ours:.2f}x"
    text = table(["contender", "s / epoch (median)", "images / s", "time vs trainwell",
                  "TFLOP/s (share of bf16 matmul rate)", "notes"], rows)
    lines = ["", f"Training FLOPs per image (forward + backward, counted by torch.utils.flop_counter): "
             f"{flops / 1e9:.2f} GFLOP. Measured bf16 matmul rate (8192³): {bf16_rate:.0f} TFLOP/s.", "",
             "Target (issue 4): trainwell at least as fast as the same net in plain eager PyTorch and under "
             "torch.compile:", ""]
    for name in ("plain eager loop", "plain loop, torch.compile", "plain loop, torch.compile max-autotune"):
        if name in timings:
            ratio = timings[name].median / ours
            lines.append(f"- vs {name}: {ratio:.2f}x; {'met' if ratio >= 1.0 else 'missed'}.")
    return text + "\n" + "\n".join(lines)


def gpu_report(n: int, repeats: int, log: Log, cnn_images: int = 50_000, cnn_batch: int = 500) -> str:
    """Both GPU workloads as markdown."""
    props = torch.cuda.get_device_properties(0)
    bf16 = matmul_rate(torch.bfloat16)
    log(f"bf16 matmul rate {bf16:.0f} TFLOP/s")
    out = [f"Device: {torch.cuda.get_device_name()} ({props.multi_processor_count} SMs, "
           f"{props.total_memory / 2**30:.0f} GiB), torch {torch.__version__}, CUDA {torch.version.cuda}.", "",
           f"Measured matmul rate (8192³, random data): bf16 {bf16:.0f} TFLOP/s.", "",
           f"### MLP 784-256-128-10, batch 128, Adam, {n:,} samples resident on the GPU, one epoch", ""]
    log("GPU: MLP, batch 128")
    out += [mlp_on_gpu(n, 128, repeats, log), ""]
    log("GPU: airbench-like CNN")
    out += [f"### Airbench-like CNN, {cnn_images:,} 32x32x3 images, batch {cnn_batch}, bf16, channels-last", "",
            f"Network: {len(cnn_spec().conv)} conv blocks (conv 3x3 -> batch norm -> ReLU [-> max pool]), widths "
            f"{', '.join(str(b.channels) for b in cnn_spec().conv)}, global average pooling, linear head; the "
            "same module (trainwell's build_network) for every contender. Median of the timed epochs after two "
            "warm-up epochs (compilation and graph capture happen there).", "",
            cnn_on_gpu(cnn_images, cnn_batch, repeats, log, bf16), ""]
    return "\n".join(out)
