"""``NeuralNetClassifier``: labels of any type encoded and decoded, class weights, probabilities."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.utils.class_weight import compute_class_weight

from ..data import encode_labels
from ..exceptions import DataError
from ..nn import CLASSIFICATION_LOSSES
from .base import NeuralNetBase
from .docstrings import parameters_doc
from .params import COMMON_CONSTRAINTS, Constraint, one_of, store_params


class NeuralNetClassifier(ClassifierMixin, NeuralNetBase):
    """A neural-network classifier with the notes' defaults and the scikit-learn API."""

    _classification = True
    _parameter_constraints: dict[str, Constraint] = {
        **COMMON_CONSTRAINTS,
        "loss": Constraint(one_of("auto", *CLASSIFICATION_LOSSES),
                           "Unknown loss {value!r} for {estimator}; choose one of "
                           + ", ".join(("auto", *CLASSIFICATION_LOSSES)) + "."),
        "class_weight": Constraint(lambda v: v is None or isinstance(v, dict) or one_of("balanced")(v),
                                   "class_weight={value!r} must be None, 'balanced' or a dict {{label: weight}}."),
    }

    def __init__(self, *, kind="auto", hidden="auto", conv="auto", activation="relu", init="auto",
                 batchnorm=True, dropout="auto", loss="auto", optimizer="adam", lr=1e-3, momentum=0.9,
                 l2=1e-4, l1=0.0, lr_schedule="auto", batch_size="auto", max_epochs=200,
                 early_stopping=True, patience=20, validation_fraction="auto", class_weight=None,
                 scaling="auto", numeric_encoding="auto", missing="auto", augment="auto", device="auto", random_state=None, verbose=0, grad_clip=None,
                 bf16=False, cuda_graphs=True,
                 callbacks=None, checkpoint_dir=None, pretrained=None, freeze="features", fine_tune=0.1,
                 diagnostics=True, report=None, tensorboard=False, mlflow=False, sync_batchnorm=False,
                 threads="auto"):
        store_params(self, locals())

    def _prepare_targets(self, y, classes=None, refit=True):
        if classes is not None and refit:
            classes = np.unique(np.asarray(classes))
            y_arr = np.asarray(y).ravel() if np.ndim(y) == 2 and np.shape(y)[1] == 1 else np.asarray(y)
            unknown = np.setdiff1d(y_arr, classes)
            if unknown.size:
                raise DataError(f"y holds labels {unknown[:5].tolist()} that are not in classes; list every class.")
            self.classes_ = classes
            return np.searchsorted(classes, y_arr), np.searchsorted(classes, y_arr)
        if not refit:
            y_arr = np.asarray(y).ravel()
            unknown = np.setdiff1d(y_arr, self.classes_)
            if unknown.size:
                raise DataError(f"y holds labels {unknown[:5].tolist()} not seen in the first fit; pass every class then.")
            codes = np.searchsorted(self.classes_, y_arr)
            return codes, codes
        if np.ndim(y) == 2 and np.shape(y)[1] == 1:
            from sklearn.exceptions import DataConversionWarning

            warnings.warn(
                "A column-vector y was passed when a 1d array was expected; it was flattened.",
                DataConversionWarning, stacklevel=4,
            )
        self.classes_, codes = encode_labels(y)
        return codes, codes

    def _class_weight_tensor(self, codes, sample_weight=None):
        if self.class_weight is None:
            return None
        if sample_weight is not None:  # "balanced" counts each row by its weight (rows of weight 0 not at all)
            codes, sample_weight = codes[sample_weight > 0], sample_weight[sample_weight > 0]
        present = np.unique(codes)
        if isinstance(self.class_weight, str):  # "balanced", as the constraints allow
            weights = np.ones(len(self.classes_))
            weights[present] = compute_class_weight("balanced", classes=present, y=codes, sample_weight=sample_weight)
        else:
            weights = np.array([float(self.class_weight.get(c, self.class_weight.get(str(c), 1.0))) for c in self.classes_])
        return torch.tensor(weights, dtype=torch.float32)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : array-like or DataFrame with the features seen in ``fit``

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        scores = self._scores(X).double()
        proba = self.loss_.scores_to_proba(scores).cpu().numpy()
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class of each sample (labels as given in ``fit``)."""
        scores = self._scores(X)
        return self.classes_[scores.argmax(1).cpu().numpy()]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        return tags


NeuralNetClassifier.__doc__ += parameters_doc(
    loss_doc='``"cross_entropy"`` (softmax + cross-entropy), ``"hinge"``, ``"squared_hinge"`` (multiclass SVM, '
    'cs231n form) or ``"hierarchical_softmax"`` (for very many classes).',
    extra_doc='class_weight : None, "balanced" or dict, default=None\n        Weights of the classes in the loss.\n    ',
)
