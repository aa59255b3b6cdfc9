"""Data preparation: validation, encoding, splitting and scaling with training statistics."""

from .datasets import load_adult, load_mnist5k
from .features import FeatureTransform, as_float_array
from .split import split_indices
from .targets import (
    TargetScaler,
    as_regression_targets,
    check_lengths,
    classes_from_json,
    classes_to_json,
    encode_labels,
    targets_outside_output,
)

__all__ = [
    "FeatureTransform",
    "TargetScaler",
    "as_float_array",
    "as_regression_targets",
    "check_lengths",
    "classes_from_json",
    "classes_to_json",
    "encode_labels",
    "load_adult",
    "load_mnist5k",
    "split_indices",
    "targets_outside_output",
]
