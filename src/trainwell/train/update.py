"""The optimizer step over flat parameters: L1, clipping, then one fused update.

``torch.optim.Adam(fused=True).step()`` spends most of its time in Python (grouping
tensors, checking devices, counting steps) before it reaches the one kernel that does the
work: at the sizes trainwell trains, that bookkeeping costs more than the update itself.
:class:`FlatUpdate` calls the same kernels (``torch._fused_adam_``, ``torch._fused_sgd_``)
directly on the optimizer's own state tensors, so ``optimizer.step()``, its
``state_dict()`` and any learning-rate scheduler stay interchangeable with it: a step
taken either way leaves the same state. Optimizers without a fused kernel take their
normal ``step()``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.optim import optimizer as _torch_optimizer  # imported by ``import torch`` already

from .flat import FlatParameters


def _global_hooks() -> bool:
    return bool(_torch_optimizer._global_optimizer_pre_hooks or _torch_optimizer._global_optimizer_post_hooks)


class FlatUpdate:
    """Apply one optimizer step to the flat gradients of :class:`FlatParameters`.

    Parameters
    ----------
    flat : FlatParameters
    optimizer : torch.optim.Optimizer
        Built over ``[flat.decay]`` and ``[flat.rest]`` (see
        :func:`trainwell.train.optim.make_flat_optimizer`).
    l1 : float
        Coefficient of the L1 penalty on the decayed weights (its subgradient
        ``l1 * sign(w)`` is added to their gradients).
    grad_clip : float or None
        Largest allowed norm of all gradients together.
    """

    def __init__(self, flat: FlatParameters, optimizer: torch.optim.Optimizer, l1: float = 0.0,
                 grad_clip: float | None = None) -> None:
        self.flat = flat
        self.optimizer = optimizer
        self.l1 = l1
        self.grad_clip = grad_clip
        self._decay_data = flat.data[: flat.n_decay]
        self._decay_grad = flat.grad[: flat.n_decay]
        self._kernel = self._pick_kernel()
        # Learning rates as device tensors (see use_tensor_lr), one per parameter group.
        self._lr_tensors: list[torch.Tensor] | None = None
        self._lr_values: list[float] = []
        self._piece_cache: dict[tuple[int, ...], list[list[torch.Tensor]]] = {}
        # Adam's per-group kernel arguments, built once from the optimizer's state (see _adam_plan)
        self._adam_args: tuple | None = None

    @property
    def fused(self) -> bool:
        """Whether the step is one of torch's fused kernels, called directly (no ``optimizer.step()``)."""
        return self._kernel in (self._adam, self._sgd)

    def hooked(self) -> bool:
        """Whether someone hooked the optimizer, so its own ``step()`` must run."""
        opt = self.optimizer
        return bool(opt._optimizer_step_pre_hooks or opt._optimizer_step_post_hooks or _global_hooks())

    def use_tensor_lr(self) -> None:
        """Pass each group's learning rate to the kernel as a device tensor instead of a number.

        A captured CUDA graph (:mod:`.cuda_graph`) bakes a number into the kernel's
        arguments; a tensor it reads at every replay, so a schedule can change the rate
        between replays. :meth:`sync_lr` copies ``param_groups[i]["lr"]`` into it.
        """
        device = self.flat.data.device
        groups = self.optimizer.param_groups
        self._lr_values = [float(g["lr"]) for g in groups]
        # CUDA's fused kernels read a float32 rate; elsewhere (the graph path's CPU emulation) the
        # parameters' own dtype keeps float64 training exact
        dtype = torch.float32 if device.type == "cuda" else self.flat.data.dtype
        self._lr_tensors = [torch.tensor(v, dtype=dtype, device=device) for v in self._lr_values]

    def sync_lr(self) -> None:
        """Bring the learning-rate tensors up to date with the optimizer's groups (changed ones only)."""
        if self._lr_tensors is None:
            return
        for i, group in enumerate(self.optimizer.param_groups):
            lr = float(group["lr"])
            if lr != self._lr_values[i]:
                self._lr_values[i] = lr
                self._lr_tensors[i].fill_(lr)

    def _lr(self, i: int, group: dict) -> float | torch.Tensor:
        return group["lr"] if self._lr_tensors is None else self._lr_tensors[i]

    def __call__(self) -> None:
        if torch.is_grad_enabled():  # after autograd's backward: the kernels write leaf parameters
            with torch.no_grad():
                self._apply()
        else:  # inside the fast step, already without gradients
            self._apply()

    def _apply(self) -> None:
        if self._lr_tensors is not None and not (self.flat.data.is_cuda and torch.cuda.is_current_stream_capturing()):
            self.sync_lr()  # a schedule may have moved the rate since the last step
        if self.l1 > 0:
            self._decay_grad.add_(torch.sign(self._decay_data), alpha=self.l1)
        if self.grad_clip:
            # the two flat parameters' .grad together are the whole gradient buffer
            torch.nn.utils.clip_grad_norm_([self.flat.decay, self.flat.rest], self.grad_clip, foreach=True)
        opt = self.optimizer
        if self.hooked():
            opt.step()  # whoever hooked the optimizer sees its step
            return
        self._kernel()
        # what Optimizer.step's wrapper records, so schedulers know the optimizer stepped
        opt._opt_called = True  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ kernels
    def _pick_kernel(self) -> Callable[[], None]:
        opt = self.optimizer
        groups = opt.param_groups
        if not all(g.get("fused") and len(g["params"]) == 1 and not g.get("differentiable")
                   and not g.get("capturable") for g in groups):
            return opt.step
        if isinstance(opt, torch.optim.Adam) and hasattr(torch, "_fused_adam_"):
            return self._adam
        if isinstance(opt, torch.optim.SGD) and hasattr(torch, "_fused_sgd_"):
            return self._sgd
        return opt.step

    def _adam(self) -> None:
        opt = self.optimizer
        plan = self._adam_plan()
        if plan is None:
            opt.step()
            return
        steps, one, per_group = plan
        for step in steps:  # one add_ each: _foreach_add_ wraps its number and costs twice as much here
            step.add_(one)
        for i, (group, kernel, ps, gs, ms, vs, maxes, group_steps) in enumerate(per_group):
            beta1, beta2 = group["betas"]
            kernel(ps, gs, ms, vs, maxes, group_steps,
                   amsgrad=group["amsgrad"], lr=self._lr(i, group), beta1=float(beta1), beta2=float(beta2),
                   weight_decay=group["weight_decay"], eps=group["eps"], maximize=group["maximize"])

    def _adam_plan(self) -> tuple | None:
        """The fused Adam kernel's tensor lists per group, built on the first step and kept.

        Looking the state up and building the lists cost more Python per step than the
        kernel itself at small sizes, so they are kept until the optimizer's state or groups
        are replaced (``load_state_dict``), emptied (``state.clear()``) or a group's kind changes
        (``amsgrad``, decoupled decay, a rate given as a tensor). Scalars (rate, betas, decay, eps) are read from the groups at every step.
        ``None``: a learning rate is a tensor, which only ``step()`` handles.
        """
        opt = self.optimizer
        groups = opt.param_groups
        kinds = [(g["amsgrad"], g.get("decoupled_weight_decay"), type(g["lr"]), len(opt.state)) for g in groups]
        cached = self._adam_args
        if cached is not None and cached[0] is opt.state and cached[1] is groups and cached[2] == kinds:
            return cached[3]
        if any(isinstance(g["lr"], torch.Tensor) for g in groups):
            return None
        states = []
        for group in groups:
            p = group["params"][0]
            state = opt.state[p]
            if not state:
                # The same lazy initialisation Adam.step() does for fused=True.
                state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                if group["amsgrad"]:
                    state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            states.append(state)
        per_group = []
        for group, state in zip(groups, states, strict=True):
            p = group["params"][0]
            kernel = torch._fused_adamw_ if group.get("decoupled_weight_decay") else torch._fused_adam_
            tensors = [p, p.grad, state["exp_avg"], state["exp_avg_sq"]]
            if group["amsgrad"]:
                tensors.append(state["max_exp_avg_sq"])
            ps, gs, ms, vs, *maxes = self._pieces(tensors)
            per_group.append((group, kernel, ps, gs, ms, vs, maxes[0] if maxes else [], [state["step"]] * len(ps)))
        one = torch.ones((), dtype=torch.float32, device=states[0]["step"].device)
        plan = ([s["step"] for s in states], one, per_group)
        self._adam_args = (opt.state, groups, kinds, plan)
        return plan

    #: On CUDA, the number of pieces a flat buffer is cut into for the fused kernels. They
    #: give each chunk of at most 65,536 elements of a tensor one block, so one flat tensor
    #: of 235k weights runs on 4 of an H100's 132 multiprocessors; views of the same memory
    #: in pieces spread it out. Measured with ``bench/gpu_profile.py`` (Adam, 235k weights):
    #: 62.6 µs in one piece, 31.0 in 8, 12.5 in 36, 14.1 in 72, 19.8 in 144.
    cuda_pieces = 36

    def _pieces(self, tensors: list[torch.Tensor]) -> list[list[torch.Tensor]]:
        """Each tensor as a list of views: one view on the CPU, :attr:`cuda_pieces` on CUDA."""
        if not tensors[0].is_cuda or self.cuda_pieces <= 1:
            return [[t] for t in tensors]
        key = tuple(t.data_ptr() for t in tensors)
        cached = self._piece_cache.get(key)
        if cached is None:
            k = min(self.cuda_pieces, max(1, tensors[0].numel() // 1024))
            cached = self._piece_cache[key] = [list(torch.tensor_split(t, k)) for t in tensors]
        return cached

    def _sgd(self) -> None:
        opt = self.optimizer
        for i, group in enumerate(opt.param_groups):
            p = group["params"][0]
            momentum = group["momentum"]
            buffers: list[torch.Tensor] = []
            first = False
            if momentum != 0:
                state = opt.state[p]
                if state.get("momentum_buffer") is None:
                    # SGD.step() with fused=True: an empty buffer the kernel fills with
                    # the first gradient.
                    state["momentum_buffer"] = torch.empty_like(p.grad)
                    first = True
                buffers = [state["momentum_buffer"]]
            ps, gs, *bs = self._pieces([p, p.grad, *buffers])
            torch._fused_sgd_(ps, gs, bs[0] if bs else [], weight_decay=group["weight_decay"], momentum=momentum,
                              lr=self._lr(i, group), dampening=group["dampening"], nesterov=group["nesterov"],
                              maximize=group["maximize"], is_first_step=first)
