"""threads="auto": small MLPs train on one intra-op thread; the count is put back after a fit."""

from __future__ import annotations

import pytest
import torch
from sklearn.datasets import load_digits

from trainwell import NeuralNetClassifier
from trainwell.exceptions import ConfigError
from trainwell.train import Callback
from trainwell.train.threads import ONE_THREAD_BELOW, auto_threads, intra_op_threads, step_macs


class SeenThreads(Callback):
    def __init__(self):
        self.seen = []

    def on_epoch_end(self, run):
        self.seen.append(torch.get_num_threads())


def test_the_rule_counts_the_work_of_a_step():
    assert step_macs((64, 128, 64, 10), 32) == 32 * (64 * 128 + 128 * 64 + 64 * 10)
    assert auto_threads(ONE_THREAD_BELOW - 1) == 1
    assert auto_threads(ONE_THREAD_BELOW) is None and auto_threads(None) is None


def test_a_small_mlp_trains_on_one_thread_and_the_count_comes_back():
    X, y = load_digits(return_X_y=True)
    before = torch.get_num_threads()
    with intra_op_threads(2):
        seen = SeenThreads()
        clf = NeuralNetClassifier(max_epochs=2, random_state=0, device="cpu", callbacks=[seen]).fit(X, y)
        assert clf.threads_ == 1 and seen.seen == [1, 1]  # 64 inputs, (256, 128), batch 32: 1.6 M MACs
        assert torch.get_num_threads() == 2
        big = NeuralNetClassifier(max_epochs=1, random_state=0, device="cpu", hidden=(1024, 1024),
                                  batch_size=512, callbacks=[SeenThreads()]).fit(X, y)
        assert big.threads_ is None and big.callbacks[0].seen == [2]
        given = NeuralNetClassifier(max_epochs=1, random_state=0, device="cpu", threads=2,
                                    callbacks=[SeenThreads()]).fit(X, y)
        assert given.threads_ == 2 and given.callbacks[0].seen == [2]
    assert torch.get_num_threads() == before


def test_threads_must_be_positive_or_auto():
    X, y = load_digits(return_X_y=True)
    with pytest.raises(ConfigError, match="threads=0 must be a positive integer"):
        NeuralNetClassifier(threads=0).fit(X, y)
