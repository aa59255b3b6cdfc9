"""Data preparation: validation, encoding, splitting and scaling with training statistics."""

from .datasets import load_adult, load_mnist5k
from .features import FeatureTransform, as_float_array
from .finite import NonFinite, find_non_finite, non_finite_message
from .split import split_indices
from .targets import (
    TargetScaler,
    as_regression_targets,
    check_lengths,
    classes_from_json,
    classes_to_json,
    encode_labels,
    plain,
    targets_outside_output,
)
from .weights import check_sample_weight, describe_weights

__all__ = [
    "FeatureTransform",
    "NonFinite",
    "TargetScaler",
    "as_float_array",
    "as_regression_targets",
    "check_lengths",
    "check_sample_weight",
    "classes_from_json",
    "classes_to_json",
    "describe_weights",
    "encode_labels",
    "find_non_finite",
    "load_adult",
    "load_mnist5k",
    "non_finite_message",
    "plain",
    "split_indices",
    "targets_outside_output",
]
