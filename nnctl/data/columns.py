"""Feature columns: a type for each (numeric, categorical, boolean), missing values
imputed, categories one-hot encoded, all fitted on the training rows and saved as JSON so
that ``predict`` and ``evaluate`` turn raw rows into exactly what training saw.

Inference, when a column's type is not set in the config:

- numbers (pandas read them as numbers) are ``numeric``;
- ``true/false`` (or ``yes/no``, ``t/f``, ``y/n``) text, or pandas booleans, are ``boolean``;
- dates (``2024-05-01``, ``05/01/2024``, ...) are ``date``: expanded into numeric columns
  ``<name>.year``, ``.month``, ``.day`` and ``.weekday`` (those that vary in training);
- other text is ``categorical``, unless it looks like an identifier or free text (more than
  ``MAX_UNIQUE_SHARE`` of the rows distinct, more than ``MIN_IDENTIFIER``), which is
  dropped with a warning saying how to keep it;
- a mostly numeric column with a few cells that are not numbers is refused, naming the
  first such cell (usually a typo or an unlisted missing-value token).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np
from numpy.typing import NDArray

from ..errors import ConfigError, DataError, ModelFileError
from ..registry import did_you_mean

TYPES = ("numeric", "categorical", "boolean", "date")
DATE_PARTS = ("year", "month", "day", "weekday")
NUMERIC_IMPUTE = ("median", "mean")
CATEGORICAL_IMPUTE = ("most_frequent", "missing")
#: Text columns with more distinct values than this share of the rows (and more than
#: MIN_IDENTIFIER of them) are identifiers or free text, not categories.
MAX_UNIQUE_SHARE = 0.5
MIN_IDENTIFIER = 20
#: Categories seen fewer times than this in training go to ``(other)``.
MIN_COUNT = 3
#: The category that missing cells become with ``impute: missing``.
MISSING = "(missing)"
#: The category that rare values become when a column has more than ``max_categories``.
OTHER = "(other)"
_TRUE = {"true", "t", "yes", "y"}
_FALSE = {"false", "f", "no", "n"}


@dataclass
class Column:
    """What training decided for one feature column (saved in the model file)."""

    name: str
    type: str
    #: how a missing cell is filled: median, mean, most_frequent or missing
    impute: str
    #: the training statistic a missing cell becomes (a number, or a category)
    fill: float | str | None = None
    #: categorical: the categories, in the order of their one-hot columns
    categories: list[str] | None = None
    #: whether values outside ``categories`` become the last, ``(other)`` column
    other: bool = False
    #: add a 0/1 column ``<name>_missing``
    indicator: bool = False
    #: boolean: the text that means true (lower-case), for text columns
    true_values: list[str] | None = None
    #: date: the parts it becomes (of DATE_PARTS); ``fill`` then holds one median per part
    parts: list[str] | None = None

    @property
    def encoded(self) -> list[str]:
        """The names of the columns this one becomes."""
        if self.type == "categorical":
            names = [f"{self.name}={c}" for c in self.categories]
        elif self.type == "date":
            names = [f"{self.name}.{p}" for p in self.parts]
        else:
            names = [self.name]
        return names + ([f"{self.name}_missing"] if self.indicator else [])


@dataclass
class Preprocessor:
    """The fitted steps for the feature columns, in order; ``transform`` applies them."""

    columns: list[Column]
    #: columns the data had but training did not use, with the reason (for the summary)
    dropped: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def encoded(self) -> list[str]:
        return [name for c in self.columns for name in c.encoded]

    # -- fitting ---------------------------------------------------------------------------

    @classmethod
    def fit(cls, frame, names: Sequence[str], *, settings: dict[str, dict] | None = None,
            impute_numeric: str = "median", impute_categorical: str = "most_frequent",
            indicator: bool = False, max_categories: int = 1000, whole=None
            ) -> tuple[Preprocessor, list[str]]:
        """Decide and fit each column of ``names`` on the training rows of ``frame``.

        ``settings`` maps a column to its config (``type``, ``impute``, ``indicator``,
        ``max_categories``). Returns the preprocessor and warnings for the summary.
        Types are inferred on ``whole`` (every row of the file, when given): a type is no
        statistic, and a stray cell must not slip into the held-out rows unseen.
        """
        whole = frame if whole is None else whole
        settings = settings or {}
        columns, dropped, warnings = [], {}, []
        for name in names:
            s = settings.get(name) or {}
            kind = s.get("type") or "auto"
            if kind == "drop":
                dropped[name] = "dropped by the config"
                continue
            series = frame.df[name]
            if kind == "auto":
                kind, reason = _infer(whole, name, whole.df[name],
                                      s.get("max_categories") or max_categories)
                if kind == "drop":
                    dropped[name] = reason
                    warnings.append(f"column '{name}' {reason}; dropped (to use it, set"
                                    f" data.columns.{name}.type: categorical)")
                    continue
            column = _fit_column(frame, name, series, kind, s, impute_numeric, impute_categorical,
                                 indicator, s.get("max_categories") or max_categories)
            if column is None:
                dropped[name] = "has no values (every cell is missing)"
                warnings.append(f"column '{name}' has no values (every cell is missing); dropped")
                continue
            columns.append(column)
        if not columns:
            raise DataError(f"{frame.path}: no feature column is left to train on"
                            f" ({'; '.join(f'{k}: {v}' for k, v in dropped.items()) or 'none given'})")
        return cls(columns, dropped), warnings

    # -- applying --------------------------------------------------------------------------

    def transform(self, frame, dtype, *, rows: slice | None = None) -> tuple[NDArray, dict[str, int]]:
        """The encoded features of ``frame`` (``rows`` of it): ``(m, n[0])`` in ``dtype``.

        Missing cells take the training fill. Returns also, per column, how many cells held
        a category training never saw (they get all-zero one-hot columns).
        """
        df = frame.df if rows is None else frame.df.iloc[rows]
        m = len(df)
        X = np.empty((m, len(self.encoded)), dtype=dtype)
        unseen: dict[str, int] = {}
        j = 0
        for c in self.columns:
            if c.name not in df.columns:
                columns = [str(x) for x in df.columns]
                shown = ", ".join(columns[:12]) + (", ..." if len(columns) > 12 else "")
                raise DataError(f"{frame.path}, line 1: no feature column '{c.name}'"
                                f"{did_you_mean(c.name, columns)}, which the model was trained on"
                                f" (add it; empty cells are imputed); the columns are {shown}")
            series = df[c.name]
            missing = series.isna().to_numpy()
            if c.type == "numeric":
                values = _numbers(frame, c.name, series, rows)
                values[missing] = c.fill
                X[:, j] = values
                j += 1
            elif c.type == "boolean":
                X[:, j] = _booleans(frame, c, series, missing, rows)
                j += 1
            elif c.type == "date":
                parts = _date_parts(frame, c.name, series, rows)
                for k, part in enumerate(c.parts):
                    values = parts[part]
                    values[missing] = c.fill[k]
                    X[:, j] = values
                    j += 1
            else:
                width = len(c.categories)
                text = cell_text(series).to_numpy(dtype=object, copy=True)
                text[missing] = c.fill
                codes, unknown = _codes(text, c.categories, c.other)
                block = X[:, j:j + width]
                block.fill(0)
                known = codes >= 0
                block[np.flatnonzero(known), codes[known]] = 1
                if unknown:
                    unseen[c.name] = unknown
                j += width
            if c.indicator:
                X[:, j] = missing
                j += 1
        return X, unseen

    # -- the model file --------------------------------------------------------------------

    def to_json(self) -> dict:
        return {"columns": [asdict(c) for c in self.columns], "dropped": dict(self.dropped)}

    @classmethod
    def from_json(cls, d: Any, where: str) -> Preprocessor:
        """Read the saved steps back, refusing anything inconsistent (model files are input)."""
        if not isinstance(d, dict) or not isinstance(d.get("columns"), list) or not d["columns"]:
            raise ModelFileError(f"{where}: the feature steps are missing or not a list; retrain it")
        columns = []
        for i, c in enumerate(d["columns"]):
            try:
                column = Column(**c)
            except TypeError:
                raise ModelFileError(f"{where}: feature step {i} is malformed; retrain it") from None
            _check_column(column, f"{where}: feature step {i}")
            columns.append(column)
        dropped = d.get("dropped") or {}
        if not isinstance(dropped, dict):
            raise ModelFileError(f"{where}: the dropped columns are malformed; retrain it")
        return cls(columns, {str(k): str(v) for k, v in dropped.items()})


def _check_column(c: Column, where: str) -> None:
    if not isinstance(c.name, str) or c.type not in TYPES:
        raise ModelFileError(f"{where}: unknown column type {c.type!r}; retrain it")
    if c.type == "numeric":
        if c.impute not in NUMERIC_IMPUTE or isinstance(c.fill, bool) or not isinstance(
                c.fill, (int, float)) or not math.isfinite(c.fill):
            raise ModelFileError(f"{where}: column '{c.name}' has no finite fill value; retrain it")
    elif c.type == "categorical":
        if not isinstance(c.categories, list) or not c.categories or not all(
                isinstance(x, str) for x in c.categories) or len(set(c.categories)) != len(c.categories):
            raise ModelFileError(f"{where}: column '{c.name}' has malformed categories; retrain it")
        if not isinstance(c.fill, str) or c.impute not in CATEGORICAL_IMPUTE:
            raise ModelFileError(f"{where}: column '{c.name}' has no fill category; retrain it")
    elif c.type == "date":
        if not isinstance(c.parts, list) or not c.parts or not set(c.parts) <= set(DATE_PARTS) \
                or not isinstance(c.fill, list) or len(c.fill) != len(c.parts) or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                    for v in c.fill):
            raise ModelFileError(f"{where}: column '{c.name}' has malformed date parts; retrain it")
    else:
        if c.fill not in (0, 1, 0.0, 1.0) or isinstance(c.fill, bool):
            raise ModelFileError(f"{where}: column '{c.name}' has no 0/1 fill; retrain it")
        if c.true_values is not None and not all(isinstance(x, str) for x in c.true_values):
            raise ModelFileError(f"{where}: column '{c.name}' has malformed true values; retrain it")
    if not isinstance(c.indicator, bool) or not isinstance(c.other, bool):
        raise ModelFileError(f"{where}: column '{c.name}' has malformed flags; retrain it")


# -- inference ------------------------------------------------------------------------------


def _infer(frame, name: str, series, max_categories: int) -> tuple[str, str]:
    import pandas as pd

    present = series.dropna()
    if present.empty:
        return "numeric", ""  # _fit_column drops it, saying why
    if pd.api.types.is_bool_dtype(series.dtype) or _is_boolean_text(present):
        return "boolean", ""
    if pd.api.types.is_numeric_dtype(series.dtype):
        return "numeric", ""
    text = present.astype(str).str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    bad = numbers.isna() & (text != "")
    # Mostly numbers and a few odd texts: typos, or missing-value tokens not listed.
    if bad.any() and bad.mean() <= 0.5 and text[bad].nunique() <= 5:
        row = int(np.flatnonzero(series.index == bad.idxmax())[0])
        raise DataError(f"{frame.place(row, name)}: '{text[bad].iloc[0]}' is not a number, in a"
                        " column of numbers; fix the cell, list it in data.na_values if it"
                        f" means missing, or set data.columns.{name}.type: categorical")
    if _looks_like_dates(text):
        return "date", ""
    distinct = text.nunique()
    if distinct > MIN_IDENTIFIER and distinct > MAX_UNIQUE_SHARE * len(text):
        return "drop", (f"looks like an identifier or free text ({distinct} distinct values in"
                        f" {len(text)} rows)")
    return "categorical", ""


def _is_boolean_text(present) -> bool:
    import pandas as pd

    if present.dtype != object and not pd.api.types.is_string_dtype(present.dtype):
        return False
    values = {str(v).strip().lower() for v in present.unique()[:3]}
    return len(values) == 2 and len(set(present.astype(str).str.strip().str.lower().unique())) == 2 \
        and any(v in _TRUE for v in values) and any(v in _FALSE for v in values)


def _looks_like_dates(text) -> bool:
    import warnings

    import pandas as pd

    sample = text.iloc[:200]
    if not sample.str.contains(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}", regex=True).mean() > 0.9:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = pd.to_datetime(sample, errors="coerce", utc=True, format="mixed")
        except (ValueError, TypeError, OverflowError):
            return False
    return parsed.notna().mean() > 0.9


def _fit_column(frame, name, series, kind, s, impute_numeric, impute_categorical, indicator,
                max_categories) -> Column | None:
    import pandas as pd

    present = series.dropna()
    if present.empty:
        return None
    use_indicator = bool(s.get("indicator", indicator) if s.get("indicator") is not None else indicator)
    how_given = s.get("impute")
    fits = {"numeric": NUMERIC_IMPUTE, "date": NUMERIC_IMPUTE, "categorical": CATEGORICAL_IMPUTE,
            "boolean": ("most_frequent",)}[kind]
    if how_given is not None and how_given not in fits:
        raise ConfigError(f"data.columns.{name}.impute: column '{name}' is {kind}, which is imputed"
                          f" with {' or '.join(fits)}, not {how_given}")
    # missing_indicator: only for columns that had missing cells in training
    use_indicator = use_indicator and (s.get("indicator") is True or bool(series.isna().any()))
    if kind == "numeric":
        values = _numbers(frame, name, present, None)
        how = s.get("impute") or impute_numeric
        fill = float(np.median(values) if how == "median" else _safe_mean(values))
        return Column(name, "numeric", how, fill, indicator=use_indicator)
    if kind == "date":
        parts = _date_parts(frame, name, present, None)
        varying = [p for p in DATE_PARTS if np.ptp(parts[p]) > 0]
        if "weekday" in varying and not {"month", "day"} & set(varying):
            varying.remove("weekday")  # one date a year (such as Jan 1): its weekday means nothing
        varying = varying or ["year"]
        return Column(name, "date", "median", [float(np.median(parts[p])) for p in varying],
                      indicator=use_indicator, parts=varying)
    if kind == "boolean":
        column = Column(name, "boolean", "most_frequent", 0.0, indicator=use_indicator)
        if not pd.api.types.is_bool_dtype(series.dtype):
            column.true_values = sorted({str(v).strip().lower() for v in present.unique()} & _TRUE
                                        or {str(v).strip().lower() for v in present.unique()
                                            if str(v).strip().lower() not in _FALSE})
        values = _booleans(frame, column, present, np.zeros(len(present), bool), None)
        column.fill = float(values.mean() >= 0.5)
        return column
    text = cell_text(present)
    counts = text.value_counts()
    how = s.get("impute") or impute_categorical
    # Most frequent first; ties broken by the value so that a refit gives the same order.
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    # A category seen fewer than MIN_COUNT times is too rare to learn a weight for: with
    # the ones past max_categories it goes to (other).
    kept = [v for v, count in ranked[:max_categories] if count >= MIN_COUNT or len(ranked) <= 2]
    other = len(kept) < len(ranked)
    categories = sorted(kept)
    if how == "missing":
        fill = MISSING
        if series.isna().any() and MISSING not in categories:
            categories.append(MISSING)
    else:
        fill = ranked[0][0]
    if other:
        categories.append(OTHER)
    return Column(name, "categorical", how, fill, categories=categories, other=other,
                  indicator=use_indicator)


def cell_text(series):
    """Each cell as text, the same whatever pandas inferred: numbers by value (``8``, ``8.0``
    and a float column with gaps all give ``8``), booleans as ``True``/``False``, text
    stripped of surrounding spaces. Missing cells stay missing (None)."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(series.dtype):
        return series.map(lambda v: None if pd.isna(v) else str(bool(v)))
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.map(lambda v: None if pd.isna(v) else _number_text(float(v)))
    return series.map(lambda v: None if pd.isna(v) else (
        _number_text(float(v)) if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
        else str(v).strip()))


def _number_text(value: float) -> str:
    if math.isfinite(value) and value == int(value):
        return str(int(value))
    return repr(value)


def _safe_mean(values: NDArray) -> float:
    big = np.abs(values).max(initial=0.0) or 1.0
    return float((values / big).mean() * big)


def _numbers(frame, name: str, series, rows) -> NDArray[np.float64]:
    """A column as float64 (missing cells NaN); a cell that is not a number is an error."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    else:
        text = series.astype(str).str.strip()
        numbers = pd.to_numeric(text.where(series.notna()), errors="coerce")
        bad = numbers.isna() & series.notna()
        if bad.any():
            row = int(np.argmax(bad.to_numpy()))
            start = 0 if rows is None else rows.start or 0
            raise DataError(f"{frame.place(start + row, name)}: '{text[bad].iloc[0]}' is not a"
                            " number; fix the cell, or list it in data.na_values if it means"
                            " missing")
        values = numbers.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    inf = np.isinf(values)
    if inf.any():
        row = int(np.argmax(inf))
        start = 0 if rows is None else rows.start or 0
        raise DataError(f"{frame.place(start + row, name)}: {values[row]} in a feature column;"
                        " replace it with a finite number, or leave the cell empty to impute it")
    return values


def _date_parts(frame, name: str, series, rows) -> dict[str, NDArray[np.float64]]:
    """Year, month, day and weekday (Monday 0) of each cell, NaN where the cell is missing."""
    import warnings

    import pandas as pd

    # As text first: pandas reads a number as nanoseconds since 1970, not as a year.
    text = cell_text(series)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "could not infer format": each cell is then parsed
        try:  # utc: offsets that differ (summer and winter time) are one clock
            dates = pd.to_datetime(text, errors="coerce", format="mixed", utc=True)
        except (ValueError, TypeError, OverflowError):
            dates = pd.Series(pd.NaT, index=series.index)
    bad = dates.isna() & series.notna()
    if bad.any():
        row = int(np.argmax(bad.to_numpy()))
        start = 0 if rows is None else rows.start or 0
        raise DataError(f"{frame.place(start + row, name)}: '{series[bad].iloc[0]}' is not a date,"
                        " in a column of dates; fix the cell or leave it empty to impute it")
    return {"year": dates.dt.year.to_numpy(np.float64, na_value=np.nan, copy=True),
            "month": dates.dt.month.to_numpy(np.float64, na_value=np.nan, copy=True),
            "day": dates.dt.day.to_numpy(np.float64, na_value=np.nan, copy=True),
            "weekday": dates.dt.day_of_week.to_numpy(np.float64, na_value=np.nan, copy=True)}


def _booleans(frame, c: Column, series, missing, rows) -> NDArray[np.float64]:
    import pandas as pd

    out = np.empty(len(series))
    if pd.api.types.is_bool_dtype(series.dtype) or c.true_values is None:
        values = series.to_numpy(dtype=object)
        ok = ~missing
        truth = np.array([bool(v) if isinstance(v, (bool, np.bool_)) else
                          str(v).strip().lower() in _TRUE for v in values[ok]], dtype=float)
        out[ok] = truth
    else:
        text = series.astype(str).str.strip().str.lower().to_numpy(dtype=object)
        truths = set(c.true_values) | _TRUE
        known = truths | _FALSE
        ok = ~missing
        bad = ok & ~np.isin(text, list(known))
        if bad.any():
            row = int(np.argmax(bad))
            start = 0 if rows is None else rows.start or 0
            raise DataError(f"{frame.place(start + row, c.name)}: '{text[row]}' is neither true nor"
                            " false; fix the cell or leave it empty to impute it")
        out[ok] = np.isin(text[ok], list(truths))
    out[missing] = c.fill
    return out


def _codes(text: NDArray, categories: list[str], other: bool) -> tuple[NDArray[np.intp], int]:
    """Each cell's category index; unseen values -> (other) if kept, else -1 (counted)."""
    lookup = {c: i for i, c in enumerate(categories)}
    codes = lookup_codes(text, lookup)
    unknown = int((codes < 0).sum())
    if unknown and other and OTHER in lookup:
        codes[codes < 0] = lookup[OTHER]
    return codes, unknown


def lookup_codes(text: NDArray, lookup: dict[str, int]) -> NDArray[np.intp]:
    """Each cell's index in ``lookup`` (-1 where absent): the text as written, else, for a
    number written another way (``01``, ``1.0`` where training saw the number 1), the
    number as ``cell_text`` writes it (and ``true``, ``FALSE`` where training read booleans:
    ``True``, ``False``). Files other than the training file may read a column
    as text that training read as numbers, or the other way round: both find their codes."""
    codes = np.fromiter((lookup.get(v, -1) for v in text), dtype=np.intp, count=len(text))
    for i in np.flatnonzero(codes < 0).tolist():
        value = text[i]
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            # pandas read training's column as booleans: True and False
            codes[i] = lookup.get(value.strip().capitalize(), -1)
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        codes[i] = lookup.get(_number_text(number), -1)
    return codes
