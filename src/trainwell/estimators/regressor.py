"""``NeuralNetRegressor``: targets scaled for training (or mapped into a squashing output's range) and back."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.base import RegressorMixin

from ..data import TargetScaler, as_regression_targets, targets_outside_output
from ..exceptions import ConfigError
from ..nn import REGRESSION_LOSSES
from .base import NeuralNetBase
from .docstrings import parameters_doc
from .params import COMMON_CONSTRAINTS, Constraint, one_of, store_params


class TargetRangeWarning(UserWarning):
    """Regression targets lie outside what the output activation can produce."""


class NeuralNetRegressor(RegressorMixin, NeuralNetBase):
    """A neural-network regressor with the notes' defaults and the scikit-learn API.

    Targets are standardised with the training statistics (``target_scaling="auto"``),
    or mapped onto 0.01..0.99 of the output's range when ``output_activation`` squashes
    the output (the notes' advice), and mapped back for predictions.
    """

    _classification = False
    _parameter_constraints: dict[str, Constraint] = {
        **COMMON_CONSTRAINTS,
        "loss": Constraint(one_of("auto", *REGRESSION_LOSSES),
                           "Unknown loss {value!r} for {estimator}; choose one of "
                           + ", ".join(("auto", *REGRESSION_LOSSES)) + "."),
        "output_activation": Constraint(one_of(None, "sigmoid", "tanh"),
                                        "Unknown output_activation {value!r}; choose None, 'sigmoid' or 'tanh'."),
        "target_scaling": Constraint(one_of("auto", "standard", "range", "none"),
                                     "Unknown target_scaling {value!r}; choose 'auto', 'standard', 'range' or 'none'."),
    }

    def __init__(self, *, kind="auto", hidden="auto", conv="auto", activation="relu", init="auto",
                 batchnorm=True, dropout="auto", loss="auto", optimizer="adam", lr=1e-3, momentum=0.9,
                 l2=1e-4, l1=0.0, lr_schedule="auto", batch_size="auto", max_epochs=200,
                 early_stopping=True, patience=20, validation_fraction="auto", output_activation=None,
                 target_scaling="auto", scaling="auto", numeric_encoding="auto", missing="auto", augment="auto", device="auto", random_state=None, verbose=0,
                 grad_clip=None, bf16=False, cuda_graphs=True, callbacks=None, checkpoint_dir=None, pretrained=None,
                 freeze="features", fine_tune=0.1, diagnostics=True,
                 report=None, tensorboard=False, mlflow=False, sync_batchnorm=False,
                 threads="auto"):
        store_params(self, locals())

    @property
    def _output_activation(self) -> str | None:
        """``output_activation`` as used: lower case (names are not case-sensitive)."""
        return self.output_activation.lower() if isinstance(self.output_activation, str) else self.output_activation

    def _check_combinations(self) -> None:
        if self.target_scaling.lower() == "range" and self.output_activation is None:
            raise ConfigError("target_scaling='range' needs output_activation='sigmoid' or 'tanh'.")

    def _prepare_targets(self, y, classes=None, refit=True):
        y = as_regression_targets(y)
        if refit:
            self.y_ndim_ = 1 if np.ndim(y) == 2 and y.shape[1] == 1 else 2
        return None, y

    def _fit_target_scaling(self, y: np.ndarray, sample_weight: np.ndarray | None = None) -> None:
        mode, squash = self.target_scaling.lower(), self._output_activation
        if mode == "auto":
            mode = "range" if squash else "standard"
        self.target_scaler_ = TargetScaler(mode, squash).fit(y, sample_weight)
        problem = targets_outside_output(self.target_scaler_.transform(y), squash)
        if problem:
            warnings.warn(problem, TargetRangeWarning, stacklevel=4)

    def _scale_targets(self, y: np.ndarray) -> np.ndarray:
        return self.target_scaler_.transform(y)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets, in the units of the ``y`` given to ``fit``.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        z = self._scores(X).cpu().numpy()
        y = self.target_scaler_.inverse_transform(z).astype(np.float64)
        return y.ravel() if self.y_ndim_ == 1 else y

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


NeuralNetRegressor.__doc__ += parameters_doc(
    loss_doc='``"mse"`` (the L2 loss).',
    extra_doc='output_activation : None, "sigmoid" or "tanh", default=None\n        Squashing of the output.\n'
    '    target_scaling : {"auto", "standard", "range", "none"}, default="auto"\n        How targets are scaled for training.\n    ',
)
