"""The fitted-state contract (trainwell/fitted.py) is what the estimators give and what the rest reads."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_diabetes, load_iris

from trainwell import NeuralNetClassifier, NeuralNetRegressor, load
from trainwell.data import FeatureTransform, TargetScaler
from trainwell.fitted import FittedClassifier, FittedEstimator, FittedRegressor
from trainwell.nn import NetworkSpec
from trainwell.train import History, RunState, TrainConfig

SRC = Path(__file__).resolve().parents[1] / "src" / "trainwell"


def _declared(protocol: type) -> set[str]:
    names = set()
    for klass in protocol.__mro__:
        names |= set(getattr(klass, "__annotations__", {}))
    return {n for n in names if n.endswith("_") and not n.startswith("_")}


@pytest.fixture(scope="module")
def fitted():
    X, y = load_iris(return_X_y=True)
    clf = NeuralNetClassifier(max_epochs=3, random_state=0, device="cpu").fit(X, y)
    Xr, yr = load_diabetes(return_X_y=True)
    reg = NeuralNetRegressor(max_epochs=3, random_state=0, device="cpu").fit(Xr, yr)
    return clf, reg, (X, y), (Xr, yr)


def test_real_estimators_satisfy_the_protocols(fitted):
    clf, reg, _, _ = fitted
    assert isinstance(clf, FittedClassifier) and isinstance(reg, FittedRegressor)
    for est, protocol in ((clf, FittedClassifier), (reg, FittedRegressor)):
        missing = [name for name in _declared(protocol) if not hasattr(est, name)]
        assert missing == []
    expected = {"network_": torch.nn.Module, "spec_": NetworkSpec, "transform_": FeatureTransform,
                "device_": torch.device, "train_config_": TrainConfig, "history_": History, "run_": RunState}
    for name, kind in expected.items():
        assert isinstance(getattr(clf, name), kind), name
    assert isinstance(reg.target_scaler_, TargetScaler) and reg.y_ndim_ == 1
    assert isinstance(clf.classes_, np.ndarray) and list(clf.classes_) == [0, 1, 2]


def test_an_unfitted_estimator_does_not_pass_for_a_fitted_one():
    assert not isinstance(NeuralNetClassifier(), FittedEstimator)


def test_a_loaded_model_satisfies_the_protocol(fitted, tmp_path):
    clf, reg, (X, _), (Xr, _) = fitted
    for est, protocol, data in ((clf, FittedClassifier, X), (reg, FittedRegressor, Xr)):
        est.save(tmp_path / type(est).__name__)
        back = load(tmp_path / type(est).__name__, device="cpu")
        assert isinstance(back, protocol)
        assert back.run_ is None and back.findings_ == []
        assert back.train_config_ == est.train_config_
        np.testing.assert_allclose(back.predict(data), est.predict(data))


def test_to_tensors_gives_what_training_saw(fitted):
    clf, reg, (X, y), (Xr, yr) = fitted
    Xt, yt = clf.to_tensors(X, y)
    assert Xt.shape == (len(X), 4) and yt.dtype == torch.int64 and yt.tolist() == y.tolist()
    Xt, yt = reg.to_tensors(Xr, yr)
    np.testing.assert_allclose(yt.numpy().ravel(), reg.target_scaler_.transform(yr.reshape(-1, 1).astype(np.float32)).ravel(),
                               rtol=1e-6)
    assert clf.to_tensors(X)[1] is None


def test_prepare_builds_without_training():
    X, y = load_iris(return_X_y=True)
    est = NeuralNetClassifier(random_state=0, device="cpu").prepare(X, y)
    assert est.n_iter_ == 0 and len(est.history_) == 0 and est.n_train_ == len(X)
    assert isinstance(est.network_, torch.nn.Module)


_READ = re.compile(r"\b(?:est|estimator|model|fitted|source|clf|reg|best)\.([a-z][a-z0-9_]*_)\b")


def test_everything_the_rest_of_the_package_reads_is_declared():
    """A fitted attribute read outside the estimators but missing from the Protocols would be
    an implicit contract again (renaming it would break persist, diagnose or report silently)."""
    declared = _declared(FittedClassifier) | _declared(FittedRegressor)
    # set by fit for one feature only, documented on the estimators
    declared |= {"n_features_in_", "feature_names_in_", "augment_", "report_path_", "validation_fraction_"}
    read = {}
    for path in SRC.rglob("*.py"):
        if "estimators" in path.parts:
            continue
        for name in _READ.findall(path.read_text(encoding="utf-8")):
            read.setdefault(name, str(path.relative_to(SRC)))
    undeclared = {name: where for name, where in read.items() if name not in declared}
    assert undeclared == {}


def test_the_test_doubles_match_the_protocol():
    """The stand-in estimator of tests/test_diagnose_advice.py uses only declared fitted names."""
    source = (Path(__file__).parent / "test_diagnose_advice.py").read_text(encoding="utf-8")
    body = source[source.index("def make_estimator"):].split("\n\n")[0]
    names = set(re.findall(r'"([a-z][a-z0-9_]*_)"', body))
    assert names, "make_estimator no longer found: update this test"
    assert names <= _declared(FittedClassifier)


def test_protocol_annotations_resolve():
    """The Protocols' annotations name real types (a typo there would hide behind the string annotations)."""
    import trainwell.fitted as fitted_module

    hints = typing.get_type_hints(FittedClassifier, vars(fitted_module) | {
        "np": np, "torch": torch, "nn": torch.nn, "FeatureTransform": FeatureTransform, "TargetScaler": TargetScaler,
        "NetworkSpec": NetworkSpec, "History": History, "TrainConfig": TrainConfig, "RunState": RunState,
        "Loss": __import__("trainwell.nn.losses", fromlist=["Loss"]).Loss,
        "Finding": __import__("trainwell.diagnose.findings", fromlist=["Finding"]).Finding,
    })
    assert hints["network_"] is torch.nn.Module and hints["classes_"] is np.ndarray
