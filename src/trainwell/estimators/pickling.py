"""Pickling a fitted estimator so that a model fitted on a GPU unpickles where there is none.

The optimizer and run state are not part of a pickled model (``partial_fit`` on an unpickled
model starts a fresh optimizer). The saved-model format (:mod:`trainwell.persist`) is the
way to keep a model; pickling is what scikit-learn's tools (``clone`` aside: joblib,
``cross_val_score`` with ``n_jobs``) need.
"""

from __future__ import annotations

import io
from typing import Any

import torch


class TorchStatePickling:
    """``__getstate__``/``__setstate__`` that carry CUDA tensors as ``torch.save`` bytes."""

    #: Device types whose tensors a pickle keeps as ``torch.save`` bytes, mapped on loading.
    _mapped_pickle_devices: tuple[str, ...] = ("cuda",)

    def __getstate__(self) -> dict[str, Any]:
        # The optimizer and run state are not part of a pickled model; partial_fit on an
        # unpickled model starts a fresh optimizer.
        state = self.__dict__.copy()
        state.pop("run_", None)
        device = state.get("device_")
        if isinstance(device, torch.device) and device.type in self._mapped_pickle_devices:
            # A plain pickle of CUDA tensors cannot be read on a machine without a GPU; torch.load
            # can map them to the CPU there (__setstate__), so the state travels as its bytes.
            buffer = io.BytesIO()
            torch.save(state, buffer)
            return {"_torch_saved_state": buffer.getvalue()}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        saved = state.get("_torch_saved_state")
        if saved is not None:
            # fitted on a GPU; unpickled where there is none, every tensor maps to the CPU and predicts there
            on_cpu = not torch.cuda.is_available()
            state = torch.load(io.BytesIO(saved), map_location="cpu" if on_cpu else None, weights_only=False)
            if on_cpu:
                state["device_"] = torch.device("cpu")
        self.__dict__.update(state)
        self.__dict__.setdefault("run_", None)
