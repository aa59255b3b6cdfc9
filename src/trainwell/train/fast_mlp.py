"""A training step for the MLP family with the backward pass written out by hand.

For a network of blocks ``Linear -> [BatchNorm1d] -> activation -> [Dropout]`` and a
``Linear`` head trained with softmax cross-entropy or mean squared error, the step runs
the forward pass into preallocated buffers, derives every gradient directly into the
flat gradient buffer (:class:`~trainwell.train.flat.FlatParameters`) and applies one
fused optimizer update. Why by hand: at these sizes a step is bound by per-operation
overhead, and autograd's graph building, saved-tensor bookkeeping, gradient
accumulation and the optimizer's Python wrapper cost more than the arithmetic
(``docs/architecture.md``, "The hot loop"). The pass is short: a linear layer's gradients are two matrix products,
batch norm runs through ATen's own kernels (``native_batch_norm`` and its backward, so
running statistics match ``nn.BatchNorm1d`` exactly), activations are undone in place
from their outputs, and dropout draws its mask the way the network's dropout module does:
trainwell's :class:`~trainwell.nn.dropout.Dropout` from random bits on the CPU, ``nn.Dropout``
by ATen's CPU recipe, either by ATen's fused kernel on CUDA.
``tests/test_fast_path.py`` checks every gradient against ``torch.autograd``.

Anything else (other layers, losses, frozen or shared parameters, hooks) is refused by
:func:`fast_mlp_support` and trained by the general autograd step. One kind of hook is run here:
a forward hook on an activation module marked with :func:`observer` (it reads the activations
and returns nothing), which the step calls with the activation's output, as the module would.
trainwell's monitors watch steps that way, so a watched step is the same fast step, and a
monitored run trains exactly like an unmonitored one.

Over 400 lines as one module on purpose: it is one hand-derived step, whose forward and
backward passes must be read side by side (each gradient next to the forward operation
it undoes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from ..nn.build import Network
from ..nn.dropout import BIT_MASK_DEVICES, Dropout, draw_noise, keep_threshold
from ..nn.losses import CrossEntropy, Loss, MeanSquaredError
from .flat import FlatParameters

_aten = torch.ops.aten
# The overloads' C++ callables: called per step, and the OpOverload's Python __call__ in front
# of each is a frame more (measured ~0.5 µs a call at the sizes the step is bound by overhead).
_bn_backward = _aten.native_batch_norm_backward.default._op
_bn_backward_out = _aten.native_batch_norm_backward.out._op
_ALL_GRADS = [True, True, True]
_relu_backward = _aten.threshold_backward.grad_input._op
_ACTIVATIONS = {nn.ReLU: "relu", nn.LeakyReLU: "leaky_relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid"}


@dataclass
class _Block:
    """One hidden block (or the head, with no norm, activation or dropout)."""

    linear: nn.Linear
    bn: nn.BatchNorm1d | None = None
    activation: str | None = None
    #: The activation module (its observer hooks are called with the activation's output)
    act_module: nn.Module | None = None
    slope: float = 0.0
    dropout: float = 0.0
    #: trainwell's :class:`~trainwell.nn.dropout.Dropout` (its bit mask on the CPU), not ``nn.Dropout``
    trainwell_dropout: bool = False
    #: On CUDA with fewer than NARROW outputs: other formulations of its products (see NARROW)
    narrow: bool = False
    # views into the flat buffers, filled in by FastMLPStep
    weight: torch.Tensor = field(init=False, repr=False)
    weight_t: torch.Tensor = field(init=False, repr=False)
    bias: torch.Tensor | None = field(init=False, repr=False, default=None)
    grad_weight: torch.Tensor = field(init=False, repr=False)
    grad_bias: torch.Tensor | None = field(init=False, repr=False, default=None)
    gamma: torch.Tensor | None = field(init=False, repr=False, default=None)
    beta: torch.Tensor | None = field(init=False, repr=False, default=None)
    grad_gamma: torch.Tensor | None = field(init=False, repr=False, default=None)
    grad_beta: torch.Tensor | None = field(init=False, repr=False, default=None)
    weight_t_copy: torch.Tensor | None = field(init=False, repr=False, default=None)
    #: The dropout mask from random bits (trainwell's Dropout on a BIT_MASK_DEVICES device):
    #: the 16-bit threshold of keep_threshold and the scale as a 0-d tensor
    bit_mask: bool = field(init=False, repr=False, default=False)
    keep_below: torch.Tensor | None = field(init=False, repr=False, default=None)
    keep_scale: torch.Tensor | None = field(init=False, repr=False, default=None)
    # batch norm's running statistics and settings, read from the module by FastMLPStep.ready
    # (a module attribute lookup per use is Python's slow path, several a step)
    running_mean: torch.Tensor | None = field(init=False, repr=False, default=None)
    running_var: torch.Tensor | None = field(init=False, repr=False, default=None)
    momentum: float = field(init=False, repr=False, default=0.1)
    eps: float = field(init=False, repr=False, default=1e-5)


@dataclass
class _Buffers:
    """Per-block activations and gradients for one batch size."""

    z: torch.Tensor          # linear output (batch norm's input)
    a: torch.Tensor          # activation output (after batch norm)
    h: torch.Tensor          # block output (after dropout; ``a`` without dropout)
    grad_h: torch.Tensor     # gradient with respect to the block output
    mean: torch.Tensor | None
    invstd: torch.Tensor | None
    noise: torch.Tensor | None  # dropout: scaled noise (CPU recipe) or the fused kernel's bool mask
    bits: torch.Tensor | None = None      # dropout's random bits (bit mask): int64, a quarter of the elements
    sixteen: torch.Tensor | None = None   # ``bits`` as one int16 per element, shaped like the activations
    mask: torch.Tensor | None = None      # bool: the elements kept (bit mask)
    xhat: torch.Tensor | None = None   # scratch for the column-wise batch-norm backward
    scratch: torch.Tensor | None = None
    grad_z: torch.Tensor | None = None    # batch norm's input gradient (ATen's backward, affine)
    # transposed views of the gradients the weight gradient multiplies by, made once
    grad_h_t: torch.Tensor | None = None
    grad_z_t: torch.Tensor | None = None


#: On CUDA, a linear layer with fewer outputs than this computes its products another way.
#: cuBLAS picks slow kernels for a product whose output has few rows (measured on an H100
#: with ``bench/gpu_profile.py``, batch 128, a 10-class head on 128 features): the weight
#: gradient ``g.t() @ h`` takes 52 µs, as a broadcast multiply and a sum 6.5 µs; the bias
#: gradient ``g.sum(0)`` 7.5 µs, as ``ones @ g`` 2 µs; the forward ``h @ w.t()`` 13.7 µs,
#: on a contiguous copy of ``w.t()`` 4.8 µs plus the copy.
NARROW = 16
#: Largest (outputs x batch x inputs) scratch the broadcast weight gradient may use.
NARROW_SCRATCH = 1 << 24
#: Device types on which ``bf16=True`` keeps the fast step, with its matrix products in bfloat16.
#: (CUDA keeps autocast on the autograd path, whose steps replay as CUDA graphs.)
BF16_DEVICES: tuple[str, ...] = ("cpu",)


@dataclass
class _Bf16Buffers:
    """One linear layer's bfloat16 operands and products for one batch size (``bf16=True``).

    Every matrix product of the step multiplies the bf16 roundings of its operands, and its
    bf16 result is widened back to float32: what autocast does for ``nn.Linear``, spelled out.
    Everything else (batch norm, activations, loss, the optimizer and its float32 master
    weights) stays in float32.
    """

    x: torch.Tensor              # the layer's input, rounded to bf16 (kept for the weight gradient)
    g: torch.Tensor              # the gradient at its output, rounded to bf16
    out: torch.Tensor            # forward product
    grad_input: torch.Tensor | None   # input-gradient product (None for the first layer: not needed)
    grad_weight: torch.Tensor    # weight-gradient product
    weight: torch.Tensor         # view of the step's bf16 copy of the flat parameters
    weight_t: torch.Tensor


def _modules(net: nn.Module) -> list[nn.Module] | None:
    if isinstance(net, Network):
        if net.output_activation is not None or not isinstance(net.features, nn.Sequential):
            return None
        return [*net.features, net.head]
    if type(net) is nn.Sequential:
        return list(net)
    return None


def parse_mlp(net: nn.Module) -> list[_Block] | None:
    """The blocks of ``net`` when it is an MLP the fast step handles, else ``None``.

    Accepted: a :class:`~trainwell.nn.build.Network` without output activation, or an
    ``nn.Sequential``, made of ``Linear [BatchNorm1d] [ReLU|LeakyReLU|Tanh|Sigmoid]
    [Dropout]`` blocks and ending with a ``Linear`` head.
    """
    mods = _modules(net)
    if not mods or type(mods[-1]) is not nn.Linear:
        return None
    blocks: list[_Block] = []
    i = 0
    while i < len(mods):
        if type(mods[i]) is not nn.Linear:
            return None
        block = _Block(mods[i])
        i += 1
        if i < len(mods) and type(mods[i]) is nn.BatchNorm1d:
            bn = mods[i]
            if bn.momentum is None or bn.num_features != block.linear.out_features:
                return None  # a cumulative average would need its own update rule
            block.bn = bn
            i += 1
        if i < len(mods) and type(mods[i]) in _ACTIVATIONS:
            block.activation = _ACTIVATIONS[type(mods[i])]
            block.act_module = mods[i]
            if block.activation == "leaky_relu":
                block.slope = float(mods[i].negative_slope)
                if block.slope < 0:
                    return None  # the in-place backward reads the sign of the output
            i += 1
        if i < len(mods) and type(mods[i]) in (nn.Dropout, Dropout):
            block.dropout = float(mods[i].p)
            block.trainwell_dropout = type(mods[i]) is Dropout
            i += 1
        blocks.append(block)
    head = blocks[-1]
    if head.bn is not None or head.activation is not None or head.dropout:
        return None
    return blocks


#: The attribute that marks a forward hook as an observer (:func:`observer`).
OBSERVER = "_trainwell_observer"


def observer(hook: Callable) -> Callable:
    """Mark a forward hook as one that only reads the module's output and returns ``None``.

    On an activation module of an MLP, such a hook does not send the step to autograd: the
    fast step calls it with the activation's output (``hook(module, (output,), output)``;
    the activations are computed in place, so the input is the output). Any other hook
    does, as Python in the middle of the step is something the hand-written pass cannot know.
    """
    setattr(hook, OBSERVER, True)
    return hook


def _observed_only(mod: nn.Module, observed: frozenset[int]) -> bool:
    """Whether ``mod``'s hooks are all observer forward hooks the fast step calls (``id(mod)`` in ``observed``)."""
    return (id(mod) in observed and not mod._forward_pre_hooks and not mod._forward_hooks_with_kwargs
            and not getattr(mod, "_forward_hooks_always_called", None)
            and all(getattr(h, OBSERVER, False) for h in mod._forward_hooks.values()))


def has_hooks(net: nn.Module, observed: frozenset[int] = frozenset(),
              modules: list[nn.Module] | None = None) -> bool:
    """Whether Python hooks are attached to ``net`` (or globally) that a fast step cannot honour.

    ``observed``: ids of the modules whose :func:`observer` forward hooks the step calls itself.
    ``modules``: ``list(net.modules())`` when the caller keeps it (the walk is Python).
    """
    from torch.nn.modules import module as _m

    if _m._global_forward_hooks or _m._global_forward_pre_hooks or _m._global_backward_hooks:
        return True
    for mod in net.modules() if modules is None else modules:
        if mod._forward_hooks and not _observed_only(mod, observed):
            return True
        if mod._forward_pre_hooks or mod._backward_hooks or getattr(mod, "_backward_pre_hooks", None):
            return True
        for p in mod._parameters.values():  # parameters(recurse=False) without its generator machinery
            if p is not None and (getattr(p, "_backward_hooks", None) or getattr(p, "_post_accumulate_grad_hooks", None)):
                return True
    return False


def fast_mlp_support(net: nn.Module, loss_fn: Loss, X: torch.Tensor, y: torch.Tensor,
                     bf16: bool = False) -> str | None:
    """Why the fast step cannot train ``net`` on ``(X, y)`` with ``loss_fn``; ``None`` when it can."""
    if parse_mlp(net) is None:
        return "the network is not a Linear/BatchNorm1d/activation/Dropout MLP with a Linear head"
    reason = FlatParameters.supports(net)
    if reason:
        return reason
    p = next(net.parameters())
    if bf16 and (p.device.type not in BF16_DEVICES or p.dtype != torch.float32):
        return f"bf16 autocast runs on the autograd path on {p.device.type} (the fast step's bf16 products are CPU-only)"
    if X.ndim != 2 or X.dtype != p.dtype or X.device != p.device:
        return "the inputs are not a 2-D tensor of the parameters' dtype and device"
    if type(loss_fn) is CrossEntropy:
        if y.ndim != 1 or y.dtype != torch.long:
            return "cross-entropy targets are not a 1-D tensor of class indices"
        return None
    if type(loss_fn) is MeanSquaredError:
        n_out = parse_mlp(net)[-1].linear.out_features
        if y.ndim != 2 or y.shape[1] != n_out or y.dtype != p.dtype:
            return "regression targets are not shaped (n_samples, n_outputs) in the parameters' dtype"
        return None
    return f"the {loss_fn.name} loss is trained on the autograd path"


class FastMLPStep:
    """Forward, hand-derived backward and update for an MLP whose parameters are flat.

    Parameters
    ----------
    net : nn.Module
        Accepted by :func:`parse_mlp`; its parameters already live in ``flat``.
    loss_fn : CrossEntropy or MeanSquaredError
    flat : FlatParameters
    update : callable
        Applies the optimizer step to ``flat.grad`` (a :class:`~trainwell.train.update.FlatUpdate`).
    after_update : callable, optional
        Called after each update (a per-batch learning-rate schedule).
    bf16 : bool, default=False
        Matrix products in bfloat16 (:class:`_Bf16Buffers`); the rest of the step, the optimizer
        and the master weights in float32. CPU only (:data:`BF16_DEVICES`).

    Attributes
    ----------
    column_bn_from : int
        Batch-norm activations with at least this many elements (batch x width) take the
        column-wise backward (:func:`_batch_norm_backward_by_columns`) instead of ATen's.
    narrow_devices : tuple of str
        Devices on which layers with fewer than :data:`NARROW` outputs compute their
        products without cuBLAS's small-output kernels.
    fused_dropout_devices : tuple of str
        Devices on which dropout runs ATen's fused kernel (``native_dropout``), as
        ``nn.Dropout`` does there; elsewhere trainwell's Dropout its bit mask and ``nn.Dropout``
        its CPU recipe (``bernoulli_``, then scale).

    Calling the step with a batch ``(xb, yb)`` trains on it and returns
    ``(loss, scores)``: the batch's mean loss as a 0-d tensor and the network's outputs
    (a buffer reused by the next step of the same size).
    """

    column_bn_from = 65536
    #: Device types on which layers narrower than :data:`NARROW` take their other formulations.
    narrow_devices: tuple[str, ...] = ("cuda",)
    #: Device types on which ``nn.Dropout`` takes ATen's fused kernel, so the fast step does too.
    fused_dropout_devices: tuple[str, ...] = ("cuda",)

    def __init__(self, net: nn.Module, loss_fn: Loss, flat: FlatParameters, update: Callable[[], None],
                 after_update: Callable[[], None] | None = None, bf16: bool = False) -> None:
        blocks = parse_mlp(net)
        if blocks is None:
            raise ValueError("FastMLPStep needs a network accepted by parse_mlp")
        self.net = net
        self.flat = flat
        self.update = update
        self.after_update = after_update
        self.cross_entropy = isinstance(loss_fn, CrossEntropy)
        self.class_weight = loss_fn.class_weight if self.cross_entropy else None
        slots = {id(s.param): s for s in flat.slots}

        def data(p: torch.Tensor) -> torch.Tensor:
            return flat.view(slots[id(p)], flat.data)

        def grad(p: torch.Tensor) -> torch.Tensor:
            return flat.view(slots[id(p)], flat.grad)

        for b in blocks:
            b.weight = data(b.linear.weight)
            b.weight_t = b.weight.t()
            b.grad_weight = grad(b.linear.weight)
            if b.linear.bias is not None:
                b.bias, b.grad_bias = data(b.linear.bias), grad(b.linear.bias)
            if b.bn is not None and b.bn.affine:
                b.gamma, b.grad_gamma = data(b.bn.weight), grad(b.bn.weight)
                b.beta, b.grad_beta = data(b.bn.bias), grad(b.bn.bias)
        narrow_here = flat.data.device.type in self.narrow_devices
        # the same masks from the same generator state as the autograd step's nn.Dropout draws
        self.fused_dropout = flat.data.device.type in self.fused_dropout_devices
        for b in blocks:
            if b.dropout and b.trainwell_dropout and not self.fused_dropout and flat.data.device.type in BIT_MASK_DEVICES:
                b.bit_mask = True
                threshold, scale = keep_threshold(b.dropout)
                # 0-d tensors: an int16 threshold compares without wrapping a Python number (same result)
                b.keep_below = torch.tensor(threshold, dtype=torch.int16, device=flat.data.device)
                b.keep_scale = torch.tensor(scale, dtype=flat.data.dtype, device=flat.data.device)
            b.narrow = narrow_here and b.linear.out_features < NARROW
            if b.narrow:
                b.weight_t_copy = torch.empty_like(b.weight_t, memory_format=torch.contiguous_format)
        self.hidden = blocks[:-1]
        self.head = blocks[-1]
        masked = [b for b in self.hidden if b.dropout]
        #: Every dropout draws its bit mask at the same rate: one draw for all of them (see _JointDraw)
        self.joint_dropout = (len(masked) > 1 and all(b.bit_mask for b in masked)
                              and len({float(b.dropout) for b in masked}) == 1)
        #: The activation modules whose observer hooks the step calls (see :func:`observer`).
        self.observed = frozenset(id(b.act_module) for b in self.hidden if b.act_module is not None)
        self._activations = tuple(b.act_module for b in self.hidden if b.act_module is not None)
        #: whether the step draws all dropout masks at once: decided where hooks can change,
        #: at construction and in :meth:`ready` (which every caller of a step in a loop asks first)
        self._draw_at_once = self.joint_dropout and not self.observers_attached()
        #: ``list(net.modules())``: parse_mlp accepted a fixed structure, walked once
        self.modules = list(net.modules())
        self._buffers: dict[int, tuple[list[_Buffers], torch.Tensor, torch.Tensor, torch.Tensor,
                                       _JointDraw | None]] = {}
        self._narrow_scratch: dict[tuple[int, int], dict[str, torch.Tensor | None]] = {}
        self._factory = {"dtype": flat.data.dtype, "device": flat.data.device}
        self._scalars: dict[float, torch.Tensor] = {}
        self._unflushed = 0
        #: bf16 matrix products (:class:`_Bf16Buffers`): the flat parameters' bf16 copy, made each step
        self.bf16 = bf16
        self._flat16 = torch.empty_like(flat.data, dtype=torch.bfloat16) if bf16 else None
        self._low: dict[int, list[_Bf16Buffers]] = {}
        self._no_bf16: list[None] = [None] * (len(self.hidden) + 1)
        self.read_norms()

    def read_norms(self) -> None:
        """Keep each batch norm's running statistics and settings on its block for the steps."""
        for b in self.hidden:
            if b.bn is not None:
                b.running_mean, b.running_var = b.bn.running_mean, b.bn.running_var
                b.momentum, b.eps = b.bn.momentum, b.bn.eps

    def ready(self) -> bool:
        """Whether the next step may run here: parameters still flat, training mode, no hooks
        but observer hooks on the activations.

        Called before each epoch's steps and after each watched step (the only places user
        code runs), so it also re-reads the batch norms' buffers a callback may have replaced.
        """
        if not self.flat.intact():
            self.flat.bind()
        self.read_norms()
        self._draw_at_once = self.joint_dropout and not self.observers_attached()
        return (all(m.training for m in self.modules)
                and not has_hooks(self.net, self.observed, self.modules))

    def observers_attached(self) -> bool:
        """Whether an activation module has forward hooks (observers, when :meth:`ready` said yes)."""
        return any(a._forward_hooks for a in self._activations)

    def inference(self, x: torch.Tensor) -> torch.Tensor:
        """The network's evaluation-mode output on ``x``, bit for bit ``net.eval()(x)``.

        The same operations the modules' forward runs in evaluation mode (the linear
        layers' ``addmm``/``mm``, ``batch_norm`` on the running statistics, the activations;
        dropout is the identity), without switching every module to ``eval()`` and back,
        which costs more than the pass itself on a small validation set. Only for a network
        without hooks (a hook expects the module's own forward).
        """
        with torch.no_grad():
            h = x
            for b in self.hidden:
                z = torch.addmm(b.bias, h, b.weight_t) if b.bias is not None else torch.mm(h, b.weight_t)
                if b.bn is not None:
                    z = torch.batch_norm(z, b.gamma, b.beta, b.running_mean, b.running_var, False, b.momentum,
                                         b.eps, torch.backends.cudnn.enabled)
                _activate(b, z)
                h = z
            head = self.head
            return torch.addmm(head.bias, h, head.weight_t) if head.bias is not None else torch.mm(h, head.weight_t)

    def _buffers_for(self, m: int) -> tuple[list[_Buffers], torch.Tensor, torch.Tensor, torch.Tensor,
                                            _JointDraw | None]:
        """A batch of ``m`` rows' buffers: per block, the scores, their gradient and its transpose,
        and the joint dropout draw (``None`` without one), made on first use and kept."""
        bufs = self._buffers.get(m)
        if bufs is None:
            kw = self._factory
            per_block = []
            for b in self.hidden:
                width = b.linear.out_features
                z = torch.empty(m, width, **kw)
                a = torch.empty(m, width, **kw) if b.bn is not None else z
                h = torch.empty(m, width, **kw) if b.dropout else a
                per_block.append(_Buffers(
                    z=z, a=a, h=h, grad_h=torch.empty(m, width, **kw),
                    mean=torch.empty(width, **kw) if b.bn is not None else None,
                    invstd=torch.empty(width, **kw) if b.bn is not None else None,
                    # (a joint draw gives its blocks views of its own buffers instead)
                    noise=(torch.empty(m, width, dtype=torch.bool, device=kw["device"]) if self.fused_dropout
                           else torch.empty(m, width, **kw)) if b.dropout and not self.joint_dropout else None,
                ))
                if b.bit_mask and not self.joint_dropout:
                    per_block[-1].bits = torch.empty((m * width + 3) // 4, dtype=torch.int64, device=kw["device"])
                    per_block[-1].sixteen = per_block[-1].bits.view(torch.int16)[:m * width].view(m, width)
                    per_block[-1].mask = torch.empty(m, width, dtype=torch.bool, device=kw["device"])
                buf = per_block[-1]
                buf.grad_h_t = buf.grad_h.t()
                if b.bn is not None and m * width >= self.column_bn_from:
                    buf.xhat = torch.empty(m, width, **kw)
                    buf.scratch = torch.empty(m, width, **kw)
                elif b.bn is not None and b.grad_gamma is not None and b.grad_beta is not None:
                    buf.grad_z = torch.empty(m, width, **kw)
                    buf.grad_z_t = buf.grad_z.t()
            scores = torch.empty(m, self.head.linear.out_features, **kw)
            grad_scores = torch.empty_like(scores)
            joint = _JointDraw(m, self.hidden, per_block, kw) if self.joint_dropout else None
            # Two sizes at most in practice (the batch size and the ragged last batch).
            bufs = self._buffers[m] = (per_block, scores, grad_scores, grad_scores.t(), joint)
        return bufs

    def __call__(self, xb: torch.Tensor, yb: torch.Tensor,
                 wb: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        loss, scores = self.device_step(xb, yb, wb)
        self.host_step()
        return loss, scores

    def host_step(self) -> None:
        """The step's bookkeeping on the host: a per-batch schedule and the step count.

        Kept apart from :meth:`device_step` so a captured CUDA graph of the device work
        (:mod:`.cuda_graph`) can replay it and do this part in Python after each replay.
        """
        if self.after_update is not None:
            self.after_update()
        self._unflushed += 1

    def device_step(self, xb: torch.Tensor, yb: torch.Tensor,
                    wb: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward, backward and update on the device only (no host-side state changes).

        ``wb``: the batch's sample weights, or ``None``; the loss is then the weighted mean
        of :mod:`trainwell.nn.losses` and only its gradient with respect to the scores
        changes (every gradient below it follows from that one).
        """
        # gradient mode off for the step: the C switch, as ``torch.no_grad()``'s context
        # manager costs microseconds of Python a step
        enabled = torch.is_grad_enabled()
        torch._C._set_grad_enabled(False)
        try:
            return self._device_step(xb, yb, wb)
        finally:
            torch._C._set_grad_enabled(enabled)

    def _device_step(self, xb: torch.Tensor, yb: torch.Tensor,
                     wb: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        m = xb.shape[0]
        per_block, scores, grad_scores, grad_scores_t, joint = self._buffers_for(m)
        inputs = [xb]
        low = self._bf16_for(m) if self.bf16 else self._no_bf16  # per linear layer: bf16 buffers, or None
        if self.bf16:
            self._flat16.copy_(self.flat.data)  # this step's weights rounded to bf16, in one pass
        # every block's mask in one draw, unless an observer runs between two blocks' draws
        drawn = self._draw_at_once
        if drawn:
            joint.draw()
        # ---------------------------------------------------------------- forward
        h = xb
        for i, (b, buf) in enumerate(zip(self.hidden, per_block, strict=True)):
            _linear(b, h, buf.z, low[i])
            if b.bn is not None:
                torch.native_batch_norm(buf.z, b.gamma, b.beta, b.running_mean, b.running_var, True,
                                        b.momentum, b.eps, out=(buf.a, buf.mean, buf.invstd))
            _activate(b, buf.a)
            if b.act_module is not None and b.act_module._forward_hooks:  # observers (a watched step)
                for hook in tuple(b.act_module._forward_hooks.values()):
                    hook(b.act_module, (buf.a,), buf.a)
            if b.dropout and self.fused_dropout:
                # nn.Dropout's kernel on CUDA (ATen's dropout takes native_dropout there)
                _aten.native_dropout.out(buf.a, b.dropout, True, out0=buf.h, out1=buf.noise)
            elif b.bit_mask:
                # trainwell's Dropout: its draw (nn/dropout.py) into kept buffers
                if not drawn:
                    draw_noise(buf.bits, buf.sixteen, b.keep_below, b.keep_scale, buf.mask, buf.noise)
                torch.mul(buf.a, buf.noise, out=buf.h)
            elif b.dropout:
                # nn.Dropout's CPU recipe (ATen's _dropout_impl), so the same seed draws the
                # same mask on either path.
                buf.noise.bernoulli_(1 - b.dropout).div_(self._scalar(1 - b.dropout))
                torch.mul(buf.a, buf.noise, out=buf.h)
            h = buf.h
            inputs.append(h)
        head = self.head
        _linear(head, h, scores, low[-1])
        # ------------------------------------------------------ loss and its gradient
        loss = self._loss_gradient(scores, yb, wb, grad_scores, m)
        g = grad_scores
        # --------------------------------------------------------------- backward
        self._parameter_grads(head, g, inputs[-1], grad_scores_t, low[-1])
        below = head
        for i in range(len(self.hidden) - 1, -1, -1):
            b, buf = self.hidden[i], per_block[i]
            gh = torch.mm(g, below.weight, out=buf.grad_h) if low[i + 1] is None else _input_grad_bf16(buf.grad_h, low[i + 1])
            if b.dropout and self.fused_dropout:
                # what autograd runs for native_dropout, with the scale it passes
                _aten.native_dropout_backward.out(gh, buf.noise, 1.0 / (1.0 - b.dropout), out=gh)
            elif b.dropout:
                gh.mul_(buf.noise)
            _deactivate(b, gh, buf.a)
            gz_t = None
            if b.bn is not None and buf.xhat is not None:
                gz, gz_t = _batch_norm_backward_by_columns(b, gh, buf), buf.grad_h_t  # in place in gh
            elif buf.grad_z is not None:
                # into kept buffers: no new tensors, and the parameters' gradients need no copy
                _bn_backward_out(gh, buf.z, b.gamma, b.running_mean, b.running_var, buf.mean, buf.invstd, True,
                                 b.eps, _ALL_GRADS, out0=buf.grad_z, out1=b.grad_gamma, out2=b.grad_beta)
                gz, gz_t = buf.grad_z, buf.grad_z_t
            elif b.bn is not None:
                gz, ggamma, gbeta = _bn_backward(
                    gh, buf.z, b.gamma, b.running_mean, b.running_var, buf.mean, buf.invstd, True, b.eps,
                    [True, b.gamma is not None, b.beta is not None])
                if b.grad_gamma is not None:
                    b.grad_gamma.copy_(ggamma)
                    b.grad_beta.copy_(gbeta)
            else:
                gz, gz_t = gh, buf.grad_h_t
            self._parameter_grads(b, gz, inputs[i], gz_t, low[i])
            g, below = gz, b
        self.update()
        return loss, scores

    def _bf16_for(self, m: int) -> list[_Bf16Buffers]:
        """A batch of ``m`` rows' bf16 operands and products, per linear layer (hidden, then the head)."""
        low = self._low.get(m)
        if low is None:
            slots = {id(s.param): s for s in self.flat.slots}
            kw = {"dtype": torch.bfloat16, "device": self.flat.data.device}
            low = []
            for j, b in enumerate([*self.hidden, self.head]):
                out_f, in_f = b.linear.out_features, b.linear.in_features
                weight = self.flat.view(slots[id(b.linear.weight)], self._flat16)
                low.append(_Bf16Buffers(
                    x=torch.empty(m, in_f, **kw), g=torch.empty(m, out_f, **kw), out=torch.empty(m, out_f, **kw),
                    grad_input=torch.empty(m, in_f, **kw) if j else None, grad_weight=torch.empty(out_f, in_f, **kw),
                    weight=weight, weight_t=weight.t()))
            self._low[m] = low
        return low

    def _loss_gradient(self, scores: torch.Tensor, yb: torch.Tensor, wb: torch.Tensor | None, g: torch.Tensor,
                       m: int) -> torch.Tensor:
        """The batch's loss, with its gradient with respect to ``scores`` written into ``g``.

        Cross-entropy: ``d(mean CE)/d(scores) = (softmax - onehot) / m``; with row weights
        ``c`` (class weight ``w[y]``, sample weight, or their product) the mean becomes
        ``sum(c * CE) / sum(c)`` and each row's gradient is scaled by ``c / sum(c)``.
        MSE: ``2 (scores - y) / (m * k)``, or with sample weights ``2 (scores - y) * c / (sum(c) * k)``
        (``k`` outputs), the gradient of the per-row mean over outputs, weighted.
        """
        if self.cross_entropy:
            torch._log_softmax(scores, 1, False, out=g)
            if wb is None:
                loss = torch._C._nn.nll_loss(g, yb, self.class_weight, 1, -100)
                c = None if self.class_weight is None else self.class_weight[yb]
            else:
                wb = wb.to(g.dtype)  # no-op when the weights already match the parameters
                c = wb if self.class_weight is None else wb * self.class_weight[yb]
                loss = torch.dot(torch._C._nn.nll_loss(g, yb, None, 0, -100), c)
            g.exp_()
            g.scatter_add_(1, yb.unsqueeze(1), _minus_ones(m, g))
            if c is None:
                g.mul_(self._scalar(1.0 / m))
                return loss
        else:
            torch.sub(scores, yb, out=g)
            if wb is None:
                loss = torch._C._nn.mse_loss(scores, yb, 1)
                g.mul_(self._scalar(2.0 / g.numel()))
                return loss
            c = wb.to(g.dtype)
            loss = torch.dot(g.square().mean(1), c)
            g.mul_(self._scalar(2.0 / g.shape[1]))
        total = c.sum().clamp_min(torch.finfo(g.dtype).tiny)  # all-zero weights: 0 loss, 0 gradient
        g.mul_((c / total).unsqueeze(1))
        return loss / total if wb is not None else loss

    def _scalar(self, value: float) -> torch.Tensor:
        """``value`` as a 0-d tensor of the parameters' dtype, kept for the next step.

        An elementwise op with a Python number wraps and converts it at every call (about
        1.3 µs on the CPU, measured); with a 0-d tensor of the same dtype it does not, and
        the result is the same to the bit (the number is rounded to the dtype either way).
        """
        t = self._scalars.get(value)
        if t is None:
            t = self._scalars[value] = torch.tensor(value, **self._factory)
        return t

    def _parameter_grads(self, b: _Block, g: torch.Tensor, h: torch.Tensor, g_t: torch.Tensor | None = None,
                         low: _Bf16Buffers | None = None) -> None:
        """The weight and bias gradients of linear layer ``b`` from its output gradient ``g`` and input ``h``
        (``g_t``: ``g.t()`` when kept, else made here; ``low``: the layer's bf16 buffers, for bf16 products)."""
        if low is not None:
            _parameter_grads_bf16(b, g, low)
            return
        scratch = self._narrow_buffers(b, g.shape[0]) if b.narrow else None
        if scratch is not None and scratch["outer"] is not None:
            # (out, m, 1) * (1, m, in) summed over m: g.t() @ h without cuBLAS (see NARROW)
            torch.mul(g.t().unsqueeze(2), h.unsqueeze(0), out=scratch["outer"])
            torch.sum(scratch["outer"], 1, out=b.grad_weight)
        else:
            torch.mm(g.t() if g_t is None else g_t, h, out=b.grad_weight)
        if b.grad_bias is not None and scratch is not None:
            torch.mm(scratch["ones"], g, out=b.grad_bias.unsqueeze(0))
        elif b.grad_bias is not None:
            torch.sum(g, 0, out=b.grad_bias)

    def _narrow_buffers(self, b: _Block, m: int) -> dict[str, torch.Tensor | None]:
        key = (id(b), m)
        bufs = self._narrow_scratch.get(key)
        if bufs is None:
            out, inp = b.linear.out_features, b.linear.in_features
            bufs = self._narrow_scratch[key] = {
                "outer": torch.empty(out, m, inp, **self._factory) if out * m * inp <= NARROW_SCRATCH else None,
                "ones": torch.ones(1, m, **self._factory),
            }
        return bufs

    def flush(self) -> None:
        """Bring the modules' step counters up to date (``BatchNorm1d.num_batches_tracked``).

        Counted in Python and added here, once per epoch and before any watched step,
        instead of one tensor addition per layer per step.
        """
        if self._unflushed:
            for b in self.hidden:
                if b.bn is not None and b.bn.num_batches_tracked is not None:
                    b.bn.num_batches_tracked.add_(self._unflushed)
            self._unflushed = 0


class _JointDraw:
    """The dropout masks of all hidden blocks drawn as one (same rate everywhere, bit masks).

    ``Tensor.random_`` over the full 64-bit range fills its elements one after another from
    the generator, so one draw of the blocks' random words laid end to end equals one draw
    per block in order: each block's words start where its own draw would put them (a whole
    word per four elements, the unused parts of a block's last word left unused). The
    comparison and the scaling then run once over all of it. Three operations a step instead
    of three per block; the masks are the same to the bit (``tests/test_dropout.py``).
    """

    def __init__(self, m: int, hidden: list[_Block], per_block: list[_Buffers], kw: dict) -> None:
        words = [(m * b.linear.out_features + 3) // 4 if b.dropout else 0 for b in hidden]
        device = kw["device"]
        self.bits = torch.empty(sum(words), dtype=torch.int64, device=device)
        self.sixteen = self.bits.view(torch.int16)
        self.mask = torch.empty(self.sixteen.shape, dtype=torch.bool, device=device)
        self.noise = torch.empty(self.sixteen.shape, **kw)
        first = next(b for b in hidden if b.dropout)
        self.threshold, self.scale = first.keep_below, first.keep_scale
        start = 0
        for buf, n in zip(per_block, words, strict=True):
            if not n:
                continue
            shape, end = buf.a.shape, 4 * start + buf.a.numel()
            buf.bits = self.bits[start:start + n]
            buf.sixteen = self.sixteen[4 * start:end].view(shape)
            buf.mask = self.mask[4 * start:end].view(shape)
            buf.noise = self.noise[4 * start:end].view(shape)  # the block's own draw writes here too
            start += n

    def draw(self) -> None:
        draw_noise(self.bits, self.sixteen, self.threshold, self.scale, self.mask, self.noise)


_MINUS_ONES: dict[tuple[int, torch.dtype, torch.device], torch.Tensor] = {}


def _minus_ones(m: int, like: torch.Tensor) -> torch.Tensor:
    key = (m, like.dtype, like.device)
    t = _MINUS_ONES.get(key)
    if t is None:
        t = _MINUS_ONES[key] = torch.full((m, 1), -1.0, dtype=like.dtype, device=like.device)
    return t


def _batch_norm_backward_by_columns(b: _Block, g: torch.Tensor, buf: _Buffers) -> torch.Tensor:
    """Batch norm's training-mode backward, in place in ``g``, with row-wise passes only.

    ATen's kernel walks each channel's column of an ``(n, c)`` tensor with stride ``c``;
    once the tensor outgrows the L2 cache that costs a cache miss per element (about 15x
    slower at 1024 x 256 here). The same formula written as whole-tensor operations reads
    memory row by row::

        xhat = (z - mean) * invstd
        dbeta = sum(g), dgamma = sum(g * xhat)         (over the batch)
        dz = gamma * invstd * (g - (dbeta + xhat * dgamma) / n)
    """
    m = g.shape[0]
    xhat, scratch = buf.xhat, buf.scratch
    torch.addcmul(torch.mul(buf.mean, buf.invstd).neg_(), buf.z, buf.invstd, out=xhat)
    dbeta = b.grad_beta if b.grad_beta is not None else torch.empty_like(buf.mean)
    dgamma = b.grad_gamma if b.grad_gamma is not None else torch.empty_like(buf.mean)
    torch.sum(g, 0, out=dbeta)
    torch.sum(torch.mul(g, xhat, out=scratch), 0, out=dgamma)
    torch.addcmul(dbeta, xhat, dgamma, out=scratch)
    scale = buf.invstd if b.gamma is None else b.gamma * buf.invstd
    return g.sub_(scratch, alpha=1.0 / m).mul_(scale)


def _linear(b: _Block, h: torch.Tensor, out: torch.Tensor, low: _Bf16Buffers | None = None) -> None:
    """``out = h @ W.t() + bias`` for linear layer ``b`` (with ``low``, its bf16 buffers: in bf16 products)."""
    if low is not None:
        _linear_bf16(b, h, out, low)
        return
    weight_t = b.weight_t if b.weight_t_copy is None else b.weight_t_copy.copy_(b.weight_t)
    if b.bias is None:
        torch.mm(h, weight_t, out=out)
    else:
        torch.addmm(b.bias, h, weight_t, out=out)


def _linear_bf16(b: _Block, h: torch.Tensor, out: torch.Tensor, low: _Bf16Buffers) -> None:
    """``out = float32(bf16(h) @ bf16(W).t()) + bias``: the product in bf16, the bias added in float32."""
    torch.mm(low.x.copy_(h), low.weight_t, out=low.out)
    if b.bias is None:
        out.copy_(low.out)
    else:
        torch.add(low.out, b.bias, out=out)


def _input_grad_bf16(out: torch.Tensor, low: _Bf16Buffers) -> torch.Tensor:
    """``out = float32(bf16(g) @ bf16(W))`` for the layer of ``low``, whose output gradient ``g`` was rounded
    to bf16 for its weight gradient (reused here)."""
    return out.copy_(torch.mm(low.g, low.weight, out=low.grad_input))


def _parameter_grads_bf16(b: _Block, g: torch.Tensor, low: _Bf16Buffers) -> None:
    """Linear layer ``b``'s weight gradient as ``bf16(g).t() @ bf16(h)`` widened to float32 (``h``
    rounded in the forward pass); ``g`` rounded to bf16 here is kept for the input gradient. The bias
    gradient sums ``g`` in float32."""
    torch.mm(low.g.copy_(g).t(), low.x, out=low.grad_weight)
    b.grad_weight.copy_(low.grad_weight)
    if b.grad_bias is not None:
        torch.sum(g, 0, out=b.grad_bias)


def _activate(b: _Block, a: torch.Tensor) -> None:
    if b.activation == "relu":
        a.relu_()
    elif b.activation == "leaky_relu":
        torch._C._nn.leaky_relu_(a, b.slope)
    elif b.activation == "tanh":
        a.tanh_()
    elif b.activation == "sigmoid":
        a.sigmoid_()


def _deactivate(b: _Block, g: torch.Tensor, out: torch.Tensor) -> None:
    """Multiply ``g`` in place by the activation's derivative, read from its output ``out``."""
    if b.activation == "relu":
        _relu_backward(g, out, 0, grad_input=g)
    elif b.activation == "leaky_relu":
        _aten.leaky_relu_backward.grad_input(g, out, b.slope, True, grad_input=g)
    elif b.activation == "tanh":
        _aten.tanh_backward.grad_input(g, out, grad_input=g)
    elif b.activation == "sigmoid":
        _aten.sigmoid_backward.grad_input(g, out, grad_input=g)
