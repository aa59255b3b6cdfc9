"""Shared fixtures: fixed seeds and small real data sets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_digits, load_iris
from sklearn.model_selection import train_test_split


@pytest.fixture(autouse=True)
def _fixed_seeds():
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def iris():
    X, y = load_iris(return_X_y=True)
    return X, y


@pytest.fixture(scope="session")
def digits_split():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)


@pytest.fixture(scope="session")
def cancer():
    return load_breast_cancer(return_X_y=True)
