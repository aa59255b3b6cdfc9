"""The fitted-state contract: what the rest of trainwell may read from a fitted estimator.

The model format (:mod:`trainwell.persist`), the checks and advice (:mod:`trainwell.diagnose`),
the reports (:mod:`trainwell.report`) and the experiments (:mod:`trainwell.lab`) work with a
fitted estimator but sit below :mod:`trainwell.estimators` in the package's layers, so they
type it with these Protocols instead of importing the classes. Everything named here is a
public fitted attribute (trailing ``_``) or a public method; nothing outside the estimators
reads their private state. ``tests/test_fitted_contract.py`` checks that the real estimators
satisfy the Protocols and that the test doubles used elsewhere match them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

    from .data import FeatureTransform, TargetScaler
    from .diagnose.findings import Finding
    from .nn import NetworkSpec
    from .nn.losses import Loss
    from .train import History, TrainConfig
    from .train.callbacks import RunState

__all__ = ["FittedClassifier", "FittedEstimator", "FittedRegressor"]


@runtime_checkable
class FittedEstimator(Protocol):
    """A fitted :class:`~trainwell.NeuralNetClassifier` or :class:`~trainwell.NeuralNetRegressor`.

    Attributes
    ----------
    network_ : torch.nn.Module
        The trained network, on ``device_``.
    spec_ : NetworkSpec
        The architecture it was built from.
    transform_ : FeatureTransform
        Input preparation fitted on the training rows (scaling, one-hot encoding).
    device_ : torch.device
    loss_ : Loss
        The training loss (``loss_.name``, ``loss_.batch(net, X, y)``).
    train_config_ : TrainConfig
        What the training loop was given (optimizer, rates, batch size, epochs).
    history_ : History
        One record per epoch.
    run_ : RunState or None
        The last run's state (``None`` on a loaded or unpickled model).
    findings_ : list of Finding
        Ranked advice from the last ``fit`` (empty on a loaded model).
    n_features_in_, n_iter_, best_epoch_, n_train_, n_val_ : int
    stop_reason_ : str
    threads_ : int or None
        Intra-op threads the last fit trained on (``None``: torch's default; also on a loaded
        model, which has not trained here).
    sample_weight_ : dict or None
        What the fit's sample weights were (``{"used", "n", "sum", "min", "max", "zero"}``),
        or ``None`` when it had none.
    """

    network_: nn.Module
    spec_: NetworkSpec
    transform_: FeatureTransform
    device_: torch.device
    loss_: Loss
    train_config_: TrainConfig
    history_: History
    run_: RunState | None
    findings_: list[Finding]
    n_features_in_: int
    n_iter_: int
    best_epoch_: int
    stop_reason_: str
    n_train_: int
    n_val_: int
    threads_: int | None
    sample_weight_: dict[str, Any] | None

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters (scikit-learn's contract)."""

    def training_config(self, n_train: int) -> TrainConfig:
        """The loop's configuration for ``n_train`` training rows under the current parameters."""

    def to_tensors(self, X: Any, y: Any = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``X`` as the network's input and ``y`` as the loss's target, on ``device_``."""

    def predict(self, X: Any) -> np.ndarray:
        """Predictions in the units (or labels) of the ``y`` given to ``fit``."""


@runtime_checkable
class FittedClassifier(FittedEstimator, Protocol):
    """A fitted classifier: :class:`FittedEstimator` plus the class labels."""

    classes_: np.ndarray
    #: Training rows per class, in the order of ``classes_`` (``None`` on a model saved without them).
    class_counts_: np.ndarray | None

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""


@runtime_checkable
class FittedRegressor(FittedEstimator, Protocol):
    """A fitted regressor: :class:`FittedEstimator` plus how targets were scaled."""

    target_scaler_: TargetScaler
    y_ndim_: int
