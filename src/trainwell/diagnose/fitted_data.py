"""Findings about the data that a fit learns along the way: text columns with a value per row, too few rows.

They read what the fit itself found (the fitted feature transform's categories, whether a
validation split could be held out), so they are made with the run's findings, after ``fit``.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import pandas as pd

from .findings import Finding

#: A text column with more distinct values than this share of the training rows (and at least
#: IDENTIFIER_MIN_VALUES of them) is one-hot encoded into columns seen about once each: nothing to learn.
IDENTIFIER_SHARE = 0.5
IDENTIFIER_MIN_VALUES = 20


def _looks_like_dates(values: list[Any]) -> bool:
    """Whether nine in ten of (a sample of) ``values`` read as dates or times."""
    sample = [str(v) for v in values[:200] if str(v) != "<missing>"]
    # a date or time is written with '-', '/' or ':' between its digits, or with a month's name;
    # numbers written as text ('1.707,400', '3,504') are not dates, whatever pandas makes of them
    if not sample or not all(re.search(r"\d[-/:]\d|[A-Za-z]{3}", v) for v in sample):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' "could not infer format" notes
        parsed = pd.to_datetime(pd.Series(sample), errors="coerce", format="mixed")
    return float(parsed.notna().mean()) >= 0.9


def identifier_columns(transform: Any, n_rows: int | None) -> list[Finding]:
    """Text columns one-hot encoded into about one input per training row: identifiers or dates.

    Each category of such a column is seen once or twice, so its weights learn nothing that
    carries to new rows (a new row brings a new value, encoded as all zeros), while the
    columns make the network wider and slower. A date or time carries information as a number.

    Parameters
    ----------
    transform : trainwell.data.FeatureTransform
        Fitted; its ``categories`` hold each text column's training values.
    n_rows : int or None
        Training rows it was fitted on.

    Returns
    -------
    list of Finding
        One ``identifier_like_column`` warning naming the columns, or none.
    """
    categories = getattr(transform, "categories", None) or {}
    if not n_rows or not categories:
        return []
    wide = {col: len([c for c in cats if c != "<missing>"]) for col, cats in categories.items()}
    wide = {col: k for col, k in wide.items() if k >= max(IDENTIFIER_MIN_VALUES, IDENTIFIER_SHARE * n_rows)}
    if not wide:
        return []
    dates = [col for col in wide if _looks_like_dates(list(categories[col]))]
    shown = ", ".join(f"'{col}' ({k:,} values)" for col, k in list(wide.items())[:5])
    advice = ("Convert the dates to numbers (day of the year, hour, days since a start) or drop them, "
              "and drop identifier columns." if dates else
              "Drop identifier columns; if a column holds numbers or dates written as text, convert it to numbers.")
    return [Finding(
        "identifier_like_column", "warning",
        f"{len(wide)} text column(s) have a distinct value for most of the {n_rows:,} training rows ({shown}"
        f"{' and more' if len(wide) > 5 else ''}): one-hot encoded, each value is seen about once, so the network "
        "cannot learn from them, and new rows bring values it has never seen."
        + (f" {', '.join(repr(c) for c in dates)} hold{'s' if len(dates) == 1 else ''} dates or times, "
           "which carry information only as numbers." if dates else ""),
        advice, {"columns": wide, "dates": dates, "n_rows": int(n_rows)},
    )]


def too_few_rows(n_rows: int) -> list[Finding]:
    """Early stopping was asked for, but the rows were too few to hold out a validation split.

    Parameters
    ----------
    n_rows : int
        Rows the network trained on (all of them: none could be held out).

    Returns
    -------
    list of Finding
        One ``too_few_rows`` warning.
    """
    return [Finding(
        "too_few_rows", "warning",
        f"Only {n_rows} rows: too few to hold out the 5 validation rows early stopping needs, so it was off, the "
        "network trained for all max_epochs on every row, and nothing measured how it does on rows it has not seen; "
        "the other findings rest on its training rows alone.",
        "Get more rows; with this few, a linear model (LogisticRegression, Ridge) is the safer choice, and "
        "cross-validation tells how well either generalises.",
        {"n_rows": int(n_rows)},
    )]


#: A number written as text: digits, an optional sign, thousands groups and a decimal part with '.' or ','.
_NUMBER_TEXT = re.compile(r"[+-]?(\d{1,3}([.,\s]\d{3})+|\d+)([.,]\d+)?")


def numbers_as_text(transform: Any) -> list[Finding]:
    """Text columns whose values are numbers with a decimal or thousands separator ('12,0', '2.710,349').

    Encoded as categories, such a column loses the order and size of its numbers (a European
    file read with the wrong decimal mark, say). Whole numbers as text (a class '1', '2', '3')
    are left alone: they may be categories on purpose.

    Parameters
    ----------
    transform : trainwell.data.FeatureTransform
        Fitted; its ``categories`` hold each text column's training values.

    Returns
    -------
    list of Finding
        One ``numbers_as_text`` warning naming the columns, or none.
    """
    found = []
    for col, cats in (getattr(transform, "categories", None) or {}).items():
        values = [str(c) for c in cats if c != "<missing>"]
        if (len(values) >= 2 and all(_NUMBER_TEXT.fullmatch(v) for v in values)
                and sum(("," in v or "." in v) for v in values) * 2 >= len(values)):
            found.append((col, values[0]))
    if not found:
        return []
    shown = ", ".join(f"'{col}' (e.g. {value!r})" for col, value in found[:5])
    return [Finding(
        "numbers_as_text", "warning",
        f"{len(found)} text column(s) hold numbers written with separators ({shown}"
        f"{' and more' if len(found) > 5 else ''}): encoded as categories, their order and size are lost.",
        "Convert them to numbers before fitting (a file with decimal commas: pandas.read_csv(..., decimal=',', "
        "thousands='.'); trainwell's command line reads ';'-separated files' decimal commas itself).",
        {"columns": [col for col, _ in found]},
    )]
