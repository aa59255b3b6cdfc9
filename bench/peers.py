"""One training epoch of the benchmark MLP, done by each contender.

Every ``make_*`` function returns ``(epoch, note)``: ``epoch()`` trains one more epoch
(state carries over between calls, as it would in a real run) and returns when the work
is done; ``note`` says anything a reader must know to compare it fairly. All contenders
train the same 784-256-128-10 network (batch norm after each hidden linear layer, except
scikit-learn's, which has none) with Adam, lr 1e-3 and L2 1e-4, at the same batch size.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trainwell.nn import make_loss
from trainwell.train import TrainConfig, fit_loop
from trainwell.train.fast_mlp import fast_mlp_support

from .common import HIDDEN, mlp

Epoch = Callable[[], None]
L2, LR = 1e-4, 1e-3


def adam_groups(net: nn.Module) -> list[dict]:
    """Weight decay on the linear weights only, as trainwell applies it."""
    decay = [p for name, p in net.named_parameters() if name.endswith("weight") and p.ndim >= 2]
    rest = [p for name, p in net.named_parameters() if not (name.endswith("weight") and p.ndim >= 2)]
    return [{"params": decay, "weight_decay": L2}, {"params": rest, "weight_decay": 0.0}]


def make_trainwell(X: torch.Tensor, y: torch.Tensor, bs: int, fast: bool = True,
                   callbacks: list | None = None, cuda_graphs: bool = True, bf16: bool = False) -> tuple[Epoch, str]:
    """trainwell's loop (``fit_loop``) on its default network; ``fast=False`` forces autograd.

    On CUDA, ``cuda_graphs=False`` launches every kernel from Python instead of replaying graphs.
    ``bf16=True``: bfloat16 matrix products (on the CPU, in the fast step).
    """
    net = mlp(device=X.device.type)
    loss = make_loss("cross_entropy")
    config = TrainConfig(batch_size=bs, lr=LR, l2=L2, max_epochs=10**9, fast=fast, cuda_graphs=cuda_graphs,
                         bf16=bf16)
    state: dict = {"run": None}
    gen = torch.Generator(device=X.device).manual_seed(1)

    def epoch() -> None:
        state["run"] = fit_loop(net, loss, (X, y), None, config, list(callbacks or []), generator=gen,
                                run=state["run"], epochs=1)

    reason = "config.fast is off" if not fast else fast_mlp_support(net, loss, X, y, bf16)
    path = "fast path (hand-derived backward, flat fused Adam)" if reason is None else f"autograd path ({reason})"
    if bf16:
        path += "; bf16 matrix products, float32 master weights and optimizer"
    if X.is_cuda:
        # graphs need the flat parameters and fused optimizer that fast=False turns off
        graphed = cuda_graphs and fast
        path += ", steps replayed from CUDA graphs" if graphed else ", every kernel launched from Python"
    return epoch, path


def make_trainwell_bf16(X: torch.Tensor, y: torch.Tensor, bs: int) -> tuple[Epoch, str] | str:
    """trainwell with ``bf16=True``, where the device has native bf16 matrix instructions."""
    from trainwell.train.loop import bf16_supported

    if not bf16_supported(X.device):
        return "this CPU has no native bf16 matrix instructions (AVX512-BF16 or AMX); trainwell refuses bf16 there"
    return make_trainwell(X, y, bs, bf16=True)


def make_trainwell_monitored(X: torch.Tensor, y: torch.Tensor, bs: int) -> tuple[Epoch, str] | str:
    """trainwell with the diagnostics' default monitors (sampled watched steps)."""
    try:
        from trainwell.diagnose import default_monitors
    except ImportError as exc:
        return f"trainwell.diagnose.default_monitors is not importable ({exc})"
    epoch, path = make_trainwell(X, y, bs, callbacks=default_monitors())
    return epoch, f"{path}; default_monitors(): 2 watched steps per epoch (the fast step, calling their observer hooks)"


def make_eager(X: torch.Tensor, y: torch.Tensor, bs: int, fused: bool = True) -> tuple[Epoch, str]:
    """The best plain eager PyTorch loop: data resident, one randperm per epoch, no per-step sync."""
    net = mlp(device=X.device.type)
    opt = torch.optim.Adam(adam_groups(net), lr=LR, fused=fused, foreach=None if fused else True)
    n = X.shape[0]
    steps = n // bs + (n % bs > 1)

    def epoch() -> None:
        net.train()
        perm = torch.randperm(n, device=X.device)
        for i in range(steps):
            idx = perm[i * bs:(i + 1) * bs]
            loss = F.cross_entropy(net(X[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return epoch, f"Adam({'fused' if fused else 'foreach'}=True), batches gathered with X[perm[i:i+bs]]"


def make_dataloader(X: torch.Tensor, y: torch.Tensor, bs: int) -> tuple[Epoch, str]:
    """The textbook loop: ``TensorDataset`` + ``DataLoader(shuffle=True)``, default Adam."""
    from torch.utils.data import DataLoader, TensorDataset

    net = mlp(device=X.device.type)
    opt = torch.optim.Adam(adam_groups(net), lr=LR)  # torch's default (foreach) implementation
    loader = DataLoader(TensorDataset(X, y), batch_size=bs, shuffle=True, drop_last=False)

    def epoch() -> None:
        net.train()
        for xb, yb in loader:
            if xb.shape[0] < 2:
                continue
            loss = F.cross_entropy(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()

    return epoch, "num_workers=0, no .item() per step"


def make_sklearn(X: torch.Tensor, y: torch.Tensor, bs: int) -> tuple[Epoch, str]:
    """scikit-learn's MLPClassifier, one epoch per ``fit`` (``max_iter=1, warm_start=True``)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    Xn, yn = X.numpy(), y.numpy()
    clf = MLPClassifier(hidden_layer_sizes=HIDDEN, solver="adam", batch_size=bs, learning_rate_init=LR,
                        alpha=L2, max_iter=1, warm_start=True, shuffle=True, tol=0.0, random_state=0)

    def epoch() -> None:
        with warnings.catch_warnings():
            # max_iter=1 always "fails to converge": that is the point of timing one epoch.
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(Xn, yn)

    return epoch, ("no batch norm (MLPClassifier has none); float32 input; max_iter=1 raises "
                   "ConvergenceWarning every call (silenced)")


def make_skorch(X: torch.Tensor, y: torch.Tensor, bs: int) -> tuple[Epoch, str] | str:
    """skorch's NeuralNetClassifier around the same module; ``partial_fit`` = one epoch."""
    try:
        from skorch import NeuralNetClassifier
    except ImportError:
        return "skorch is not installed (pip install skorch, or the [bench] extra)"
    clf = NeuralNetClassifier(mlp(), criterion=nn.CrossEntropyLoss, optimizer=torch.optim.Adam, lr=LR,
                              optimizer__weight_decay=L2, batch_size=bs, max_epochs=1, train_split=None,
                              iterator_train__shuffle=True, verbose=0, device="cpu")
    Xn, yn = X.numpy(), y.numpy()
    clf.initialize()

    def epoch() -> None:
        clf.partial_fit(Xn, yn)

    return epoch, "train_split=None; weight decay on every parameter (skorch's default)"


def make_lightning(X: torch.Tensor, y: torch.Tensor, bs: int) -> tuple[Epoch, str] | str:
    """PyTorch Lightning's Trainer, one epoch per ``fit`` call (only if installed).

    Its usual setup: a host-memory ``DataLoader``, on the GPU when ``X`` lives on one.
    """
    try:
        import lightning.pytorch as pl
    except ImportError:
        try:
            import pytorch_lightning as pl
        except ImportError:
            return "Lightning is not installed here (pip install lightning); not measured"
    from torch.utils.data import DataLoader, TensorDataset

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = mlp()

        def training_step(self, batch, _):
            xb, yb = batch
            return F.cross_entropy(self.net(xb), yb)

        def configure_optimizers(self):
            return torch.optim.Adam(adam_groups(self.net), lr=LR)

    module = Module()
    loader = DataLoader(TensorDataset(X.cpu(), y.cpu()), batch_size=bs, shuffle=True)
    accelerator = "gpu" if X.is_cuda else "cpu"

    def epoch() -> None:
        # A fresh Trainer starts counting at epoch 0: max_epochs=1 trains exactly one more epoch.
        # (An earlier version passed a growing max_epochs and so trained k epochs in its k-th call.)
        trainer = pl.Trainer(max_epochs=1, accelerator=accelerator, devices=1, logger=False,
                             enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
        trainer.fit(module, loader)

    return epoch, (f"Lightning {pl.__version__}; a new Trainer per epoch (its setup is timed) continues the same "
                   "module, with a fresh Adam state each epoch")


class GemmFloor:
    """The step's eight matrix multiplies alone, into preallocated outputs (no other work).

    Forward: three products; backward: three weight gradients and two input gradients.
    """

    def __init__(self, bs: int, device: str = "cpu") -> None:
        sizes = (784, *HIDDEN, 10)
        kw = {"device": device}
        self.W = [torch.randn(o, i, **kw) * 0.05 for i, o in zip(sizes[:-1], sizes[1:], strict=True)]
        self.acts = [torch.randn(bs, s, **kw) for s in sizes]
        self.grads = [torch.randn(bs, s, **kw) for s in sizes]
        self.dW = [torch.empty_like(w) for w in self.W]
        self.flops = 6 * bs * sum(w.numel() for w in self.W) - 2 * bs * self.W[0].numel()

    def step(self) -> None:
        a, g, W, dW = self.acts, self.grads, self.W, self.dW
        for i, w in enumerate(W):
            torch.mm(a[i], w.t(), out=a[i + 1])
        for i in range(len(W) - 1, -1, -1):
            torch.mm(g[i + 1].t(), a[i], out=dW[i])
            if i > 0:
                torch.mm(g[i + 1], W[i], out=g[i])


def make_gemm_floor(X: torch.Tensor, y: torch.Tensor, bs: int) -> tuple[Epoch, str]:
    """An epoch of GEMM-only steps: the arithmetic floor no loop can beat."""
    floor = GemmFloor(bs, X.device.type)
    steps = X.shape[0] // bs

    def epoch() -> None:
        for _ in range(steps):
            floor.step()

    return epoch, "8 matmuls per step (3 forward, 3 weight gradients, 2 input gradients), nothing else"


def dataset_numpy(X: torch.Tensor, y: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """The benchmark data as NumPy arrays (for the NumPy-based peers)."""
    return X.numpy(), y.numpy()
