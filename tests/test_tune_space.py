"""The search space: parsing, and what the sampler draws from it (no training)."""

from __future__ import annotations

import re

import numpy as np
import optuna
import pytest
from scipy import stats

from trainwell import NeuralNetClassifier
from trainwell.exceptions import ConfigError
from trainwell.tune.objective import TrialSeededRandomSampler, make_sampler
from trainwell.tune.space import (
    Choice,
    Range,
    decode,
    parse_space,
    parse_space_strings,
    space_from_plain,
    space_to_plain,
    suggest,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _draws(space: dict, n: int, seed: int = 0) -> list[dict]:
    searched, _ = parse_space(space)
    study = optuna.create_study(sampler=TrialSeededRandomSampler(seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append(suggest(trial, searched))
        study.tell(trial, 0.0)
    return out


def test_log_range_is_sampled_log_uniformly_and_linear_range_uniformly():
    draws = _draws({"lr": (1e-5, 1e-1, "log"), "dropout": (0.0, 0.5)}, 1000)
    lr = np.array([d["lr"] for d in draws])
    dropout = np.array([d["dropout"] for d in draws])
    assert lr.min() >= 1e-5 and lr.max() <= 1e-1
    # log10(lr) is uniform on [-5, -1] ...
    assert stats.kstest((np.log10(lr) + 5) / 4, "uniform").pvalue > 0.01
    # ... which lr itself is very far from (a linear sampler would put 90 % above 1e-2)
    assert stats.kstest(lr / 1e-1, "uniform").pvalue < 1e-10
    assert np.mean(lr < 1e-3) == pytest.approx(0.5, abs=0.05)
    assert stats.kstest(dropout / 0.5, "uniform").pvalue > 0.01
    # random search, not a grid: every draw is a new value
    assert len(np.unique(lr)) == len(lr)


def test_integer_log_range_and_choices():
    draws = _draws({"batch_size": (16, 256, "log"), "hidden": [(128,), (256, 128)]}, 600)
    bs = np.array([d["batch_size"] for d in draws])
    assert bs.dtype.kind == "i" and bs.min() >= 16 and bs.max() <= 256
    assert np.mean(bs < 64) == pytest.approx(0.5, abs=0.08)  # 64 is the geometric middle of 16..256
    hidden = [d["hidden"] for d in draws]
    assert set(hidden) == {(128,), (256, 128)}
    assert hidden.count((128,)) / len(hidden) == pytest.approx(0.5, abs=0.08)


def test_configurations_depend_on_trial_number_only():
    # Two workers (or a resumed search) with the same seed draw the same configuration for
    # the same trial number, and different configurations for different trials.
    a = _draws({"lr": (1e-5, 1e-1, "log")}, 20, seed=3)
    b = _draws({"lr": (1e-5, 1e-1, "log")}, 20, seed=3)
    c = _draws({"lr": (1e-5, 1e-1, "log")}, 20, seed=4)
    assert a == b
    assert a != c


def test_tpe_is_available():
    assert isinstance(make_sampler("tpe", 0, "s"), optuna.samplers.TPESampler)
    assert isinstance(make_sampler("random", 0, "s"), optuna.samplers.RandomSampler)


def test_parse_plain_space():
    searched, fixed = parse_space(
        {"lr": (1e-5, 1e-1, "log"), "dropout": (0.0, 0.5), "hidden": [(128,), (256, 128)], "patience": 5,
         "batch_size": (16, 128)},
        set(NeuralNetClassifier().get_params()),
    )
    assert searched["lr"] == Range("lr", 1e-5, 1e-1, log=True)
    assert searched["dropout"] == Range("dropout", 0.0, 0.5)
    assert searched["batch_size"].integer and not searched["batch_size"].log
    assert searched["hidden"] == Choice("hidden", ((128,), (256, 128)))
    assert fixed == {"patience": 5}
    assert space_from_plain(space_to_plain(searched)) == searched
    assert decode(searched, {"hidden": "256,128", "lr": 0.01}) == {"hidden": (256, 128), "lr": 0.01}


def test_a_tuple_for_hidden_is_a_fixed_value():
    searched, fixed = parse_space({"hidden": (256, 128), "lr": (1e-4, 1e-2, "log")})
    assert fixed == {"hidden": (256, 128)}
    assert list(searched) == ["lr"]


def test_cli_strings():
    space = parse_space_strings(["lr=1e-5:1e-1:log", "dropout=0:0.5", "hidden=128|256,128", "optimizer=adam|sgd",
                                 "batch-size=16:256:log", "patience=10", "hidden2=64"])
    assert space["lr"] == (1e-5, 1e-1, "log")
    assert space["dropout"] == (0, 0.5, "linear")
    assert space["hidden"] == [(128,), (256, 128)]
    assert space["optimizer"] == ["adam", "sgd"]
    assert space["batch_size"] == (16, 256, "log")
    assert space["patience"] == 10
    searched, _ = parse_space({k: v for k, v in space.items() if k != "hidden2"})
    assert searched["batch_size"].integer and searched["batch_size"].log
    assert not searched["dropout"].integer  # 0:0.5 is a float range


@pytest.mark.parametrize(
    ("space", "words"),
    [
        ({"lr": (1e-1, 1e-5, "log")}, "low end must be below"),
        ({"lr": (0.0, 1e-1, "log")}, "above 0"),
        ({"lr": (1e-5, 1e-1, "logarithmic")}, "(low, high, 'log')"),
        ({"hidden": []}, "empty list"),
        ({"lerning_rate": (1e-5, 1e-1)}, "not a parameter of the estimator"),
        ({"lr": ("a", 1)}, "finite numbers"),
        ({"hidden": [(128,), [128]]}, "repeat a value"),
    ],
)
def test_bad_spaces_are_refused_in_one_sentence(space, words):
    with pytest.raises(ConfigError) as info:
        parse_space(space, set(NeuralNetClassifier().get_params()))
    assert words in str(info.value)
    assert not re.search(r"\.\s+[A-Z]", str(info.value))  # one sentence


@pytest.mark.parametrize("item", ["lr", "lr=", "lr=1:2:3:4", "lr=a:b", "lr=1e-5:1e-1:ln"])
def test_bad_cli_strings(item):
    with pytest.raises(ConfigError, match="--space"):
        parse_space_strings([item])
