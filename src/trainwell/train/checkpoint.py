"""Crash-safe checkpoints every epoch, and resuming from them.

A checkpoint is a folder with ``state.safetensors`` (every tensor: weights, optimizer
moments, random-generator states, the early-stopping copy of the best weights) and
``state.json`` (history, counters, scheduler state, a fingerprint of the settings). It is
written under a temporary name and renamed, so a kill at any moment leaves either the
previous checkpoint or the new one, never half of one; nothing in it is pickled.

Resuming restores the network, the optimizer and scheduler, the permutation generator,
torch's global generator (dropout), the early-stopping state and the history, so on CPU
a resumed run ends with exactly the weights of an uninterrupted run with the same seed.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .._files import from_tagged_json, jsonable, recover_folder, write_atomic_folder
from ..exceptions import ModelFileError
from . import distributed
from .callbacks import Callback, EarlyStopping, RunState
from .history import History

STATE_JSON = "state.json"
STATE_TENSORS = "state.safetensors"
FORMAT_VERSION = 1


def _flatten_optimizer(state_dict: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, per_param in state_dict["state"].items():
        for name, value in per_param.items():
            if torch.is_tensor(value):
                tensors[f"opt.{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[name] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for index, values in meta["scalars"].items():
        state.setdefault(int(index), {}).update(values)
    return {"state": state, "param_groups": meta["param_groups"]}


def _tagged(value: Any) -> Any:
    """JSON form that keeps non-finite floats (``{"__float__": "inf"}``); one-element tensors
    become numbers, anything else of no JSON type ``None``."""
    def fallback(v: Any) -> Any:
        return v.item() if torch.is_tensor(v) and v.numel() == 1 else None

    return jsonable(value, nonfinite="tagged", fallback=fallback)


class Checkpoint(Callback):
    """Write a checkpoint at the end of every epoch; restore one at the start of a fit.

    Parameters
    ----------
    folder : path
        Where the checkpoint folder lives (replaced atomically every epoch).
    generator : torch.Generator
        The loop's permutation generator, whose state is saved and restored.
    early_stopping : EarlyStopping or None
        Its best value, patience counter and copy of the best weights are saved too.
    fingerprint : dict
        Settings that must match for a resume (parameters, data shape); a checkpoint
        made with other settings is refused.
    resume : bool
        Restore from ``folder`` when it holds a checkpoint.

    Notes
    -----
    Put it first, so that a resumed run's state is back before any other callback starts;
    it then saves before the others have finished the epoch. When callbacks add to the
    epoch's history row (the diagnostics' monitors do), pass :meth:`saver` last as well:
    the checkpoint is then written after them, with their numbers in it.
    """

    def __init__(self, folder: str | Path, generator: torch.Generator, early_stopping: EarlyStopping | None,
                 fingerprint: dict[str, Any], resume: bool = False) -> None:
        self.folder = Path(folder)
        self.generator = generator
        self.early_stopping = early_stopping
        self.fingerprint = _tagged(fingerprint)
        self.resume = resume
        self.resumed_from: int | None = None
        self._saves_itself = True

    # ---------------------------------------------------------------- saving
    def saver(self) -> Callback:
        """A callback that writes this checkpoint at the end of every epoch; this one then no longer does.

        Put it after every callback that adds to the epoch's history row.
        """
        self._saves_itself = False
        return CheckpointSaver(self)

    def on_epoch_end(self, run: RunState) -> None:
        if self._saves_itself:
            self.save_finite(run)

    def save_finite(self, run: RunState) -> None:
        """:meth:`save`, unless the epoch's training loss is not finite (never checkpoint a diverged state)."""
        if math.isfinite(run.history[-1]["train_loss"]):
            self.save(run)

    def save(self, run: RunState) -> None:
        """Write the run's complete state to ``folder`` atomically (rank 0 only under torchrun:
        every rank holds the same state)."""
        if not distributed.is_main_process():
            return
        tensors = {f"net.{k}": v.detach().cpu().contiguous() for k, v in run.net.state_dict().items()}
        opt_tensors, opt_meta = _flatten_optimizer(run.optimizer.state_dict())
        tensors.update(opt_tensors)
        tensors["rng.perm"] = self.generator.get_state()
        tensors["rng.torch"] = torch.get_rng_state()
        if torch.cuda.is_available() and self.generator.device.type == "cuda":
            tensors["rng.cuda"] = torch.cuda.get_rng_state()
        es: dict[str, Any] = {}
        if self.early_stopping is not None:
            es = {"best": _tagged(self.early_stopping.best), "wait": self.early_stopping.wait}
            if self.early_stopping.best_state is not None:
                tensors.update({f"es.{k}": v.detach().cpu().contiguous() for k, v in self.early_stopping.best_state.items()})
        meta = {
            "format_version": FORMAT_VERSION,
            "fingerprint": self.fingerprint,
            "epoch": run.epoch,
            "step": run.step,
            "best_epoch": run.best_epoch,
            "history": _tagged(list(run.history)),
            "optimizer": _tagged(opt_meta),
            "scheduler": _tagged(run.scheduler.state_dict()) if run.scheduler is not None else None,
            "early_stopping": es,
        }
        write_atomic_folder(
            self.folder,
            {STATE_JSON: json.dumps(meta).encode()},
            {STATE_TENSORS: lambda p: save_file(tensors, str(p))},
            marker=STATE_JSON,
        )

    # ---------------------------------------------------------------- restoring
    def on_fit_begin(self, run: RunState) -> None:
        if distributed.is_main_process():
            recover_folder(self.folder)
        distributed.barrier()  # under torchrun every rank reads what rank 0 put back
        if not self.resume or not (self.folder / STATE_JSON).is_file():
            return
        meta, tensors = read_checkpoint(self.folder, recover=False)
        if meta["fingerprint"] != self.fingerprint:
            changed = sorted(k for k in set(meta["fingerprint"]) | set(self.fingerprint)
                             if meta["fingerprint"].get(k) != self.fingerprint.get(k))
            raise ModelFileError(
                f"The checkpoint in {self.folder} was made with other settings ({', '.join(changed[:4])}); "
                "resume with the same data and parameters, or start a new run folder."
            )
        device = next(run.net.parameters()).device
        run.net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
        # Optimizer.load_state_dict moves each state tensor to its parameter's device itself.
        run.optimizer.load_state_dict(_unflatten_optimizer(tensors, meta["optimizer"]))
        if run.scheduler is not None and meta["scheduler"] is not None:
            run.scheduler.load_state_dict(meta["scheduler"])
        if tensors["rng.perm"].numel() == self.generator.get_state().numel():
            self.generator.set_state(tensors["rng.perm"])
        else:
            # written by a run on another kind of device (a CUDA generator's state is not a CPU one's):
            # everything else carries over, the shuffling goes on from this run's own generator
            warnings.warn(
                f"The checkpoint in {self.folder} was written on another kind of device than this run's "
                f"{self.generator.device.type}; training resumes, but batches are no longer drawn in the order "
                "the interrupted run would have used.", UserWarning, stacklevel=2,
            )
        torch.set_rng_state(tensors["rng.torch"])
        if "rng.cuda" in tensors and torch.cuda.is_available():
            torch.cuda.set_rng_state(tensors["rng.cuda"])
        if self.early_stopping is not None and meta["early_stopping"]:
            es = meta["early_stopping"]
            self.early_stopping.best = float(es["best"]) if not isinstance(es["best"], dict) else from_tagged_json(es["best"])
            self.early_stopping.wait = int(es["wait"])
            best = {k[3:]: v.to(device) for k, v in tensors.items() if k.startswith("es.")}
            self.early_stopping.best_state = best or None
        run.history = History(meta["history"])
        run.epoch = int(meta["epoch"])
        run.step = int(meta["step"])
        run.best_epoch = meta["best_epoch"]
        self.resumed_from = run.epoch


def read_checkpoint(folder: str | Path, recover: bool = True) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read a checkpoint folder without unpickling anything.

    ``recover=True`` first puts back a folder a killed writer left moved aside.

    Raises
    ------
    ModelFileError
        When the checkpoint is damaged or from another format version.
    """
    folder = Path(folder)
    if recover:
        recover_folder(folder)
    try:
        meta = json.loads((folder / STATE_JSON).read_text(encoding="utf-8"))
        tensors = load_file(str(folder / STATE_TENSORS))
    except (OSError, ValueError, SafetensorError) as exc:
        raise ModelFileError(f"The checkpoint in {folder} is damaged ({exc}); delete it to start the run again.") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"The checkpoint in {folder} has format version {meta.get('format_version')!r}; start a new run.")
    return from_tagged_json(meta), tensors


class CheckpointSaver(Callback):
    """The saving half of a :class:`Checkpoint`, placed after the callbacks that fill in the epoch."""

    def __init__(self, checkpoint: Checkpoint) -> None:
        self.checkpoint = checkpoint

    def on_epoch_end(self, run: RunState) -> None:
        self.checkpoint.save_finite(run)
