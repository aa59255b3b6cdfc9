"""A blind check of ``numeric_encoding`` on a table no rule was chosen on: vega_datasets' seattle-weather.

1,461 days of Seattle weather (precipitation, daily maximum and minimum temperature, wind) and the
day's weather (sun, fog, rain, drizzle, snow). Declared before the one run (issue 20, after the
default was fixed on bench/tabular.py's calibration half): trainwell's defaults (``numeric_encoding``
``"auto"``, which bins all four columns here: 1,052 training rows) against ``numeric_encoding="none"``,
HistGB beside them; 3 seeds of 80/20 stratified splits; mean accuracy and log loss.

    pip install vega_datasets      # in the bench extra; its data ships inside the wheel (offline)
    python bench/fresh_table.py

Result (2026-12-03, AMD EPYC, one thread): piecewise 67.1 % (log loss 0.872), none 63.7 % (0.896),
HistGB 60.6 % (1.341); see bench/tabular.md.
"""
import warnings

import pandas as pd
import torch
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from vega_datasets import local_data

from trainwell import NeuralNetClassifier


def main() -> None:
    torch.set_num_threads(1)
    df = local_data.seattle_weather()
    X = df[["precipitation", "temp_max", "temp_min", "wind"]]
    y = df["weather"].to_numpy()
    rows = []
    for seed in (0, 1, 2):
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, stratify=y, random_state=seed)
        models = {"trainwell (auto: piecewise)": NeuralNetClassifier(random_state=seed, device="cpu"),
                  "trainwell numeric_encoding='none'": NeuralNetClassifier(random_state=seed, device="cpu", numeric_encoding="none"),
                  "histgb": HistGradientBoostingClassifier(random_state=seed)}
        for name, m in models.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m.fit(Xtr, ytr)
            p = m.predict_proba(Xte)
            rows.append({"model": name, "seed": seed, "accuracy": accuracy_score(yte, m.classes_[p.argmax(1)]),
                         "log_loss": log_loss(yte, p, labels=m.classes_),
                         "bins": len(m.transform_.bins) if hasattr(m, "transform_") else None})
    d = pd.DataFrame(rows)
    print(d.groupby("model")[["accuracy", "log_loss", "bins"]].mean().round(4).to_string())


if __name__ == "__main__":
    main()
