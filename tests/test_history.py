"""The per-epoch record: every number kept, a printed row short enough to read."""

from __future__ import annotations

import json
import pickle

import numpy as np
from sklearn.datasets import load_iris

from trainwell import NeuralNetClassifier
from trainwell.train import History


def test_a_printed_row_leaves_out_the_per_layer_statistics_but_keeps_them():
    X, y = load_iris(return_X_y=True)
    clf = NeuralNetClassifier(max_epochs=2, random_state=0, device="cpu").fit(X, y)
    row = clf.history_[-1]
    full = repr(dict(row))
    assert len(full) > 2000  # the histograms and per-layer series are there...
    shown = str(row)
    assert len(shown) < 600 and "row['layers']" in shown  # ...and printing names them instead
    assert f"'val_loss': {row['val_loss']!r}" in shown
    assert isinstance(row["layers"], dict) and row == dict(row)
    assert json.loads(json.dumps(clf.history_.to_frame().to_dict("records")))


def test_rows_stay_records_through_loading_and_pickling():
    history = History([{"epoch": 1, "train_loss": np.float64(0.5), "layers": {"dense1": {"dead": 0.0}}}])
    history.append({"epoch": 2, "train_loss": 0.25})
    again = pickle.loads(pickle.dumps(history))
    assert [type(r).__name__ for r in again] == ["EpochRecord", "EpochRecord"]
    assert str(again[0]) == "{'epoch': 1, 'train_loss': 0.5, 'layers': <1 entries, see row['layers']>}"
    assert again.column("train_loss") == [0.5, 0.25]


def test_the_epoch_table_header_explains_its_star():
    import io

    from rich.console import Console

    from trainwell.progress import EpochTable

    buffer = io.StringIO()
    X, y = load_iris(return_X_y=True)
    table = EpochTable(console=Console(file=buffer, width=200, highlight=False))
    NeuralNetClassifier(max_epochs=3, random_state=0, device="cpu", callbacks=[table]).fit(X, y)
    header, *rows = buffer.getvalue().splitlines()
    assert "* best val_loss so far" in header
    assert any(row.rstrip().endswith("*") for row in rows)
