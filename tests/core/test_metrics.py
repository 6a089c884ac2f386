"""Metrics reports: every number against sklearn.metrics, the edge cases, the extremes."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import given, settings, strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from nnctl.core.metrics import (EPS, accuracy, class_indices, classification_report,
                                confusion_matrix, r2, regression_report)
from nnctl.errors import DataError

RTOL = 1e-12


def sk(fn, *args, **kwargs):
    """An sklearn metric with its warnings (UndefinedMetricWarning, ...) silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def softmax(Z):
    E = np.exp(Z - Z.max(axis=0))
    return E / E.sum(axis=0)


def classification_case(n, m, seed, kind):
    """``A, Y: (n, m)``; n = 1 is logistic. ``kind`` shapes the data:

    plain: random; never: the last class is never predicted; absent: the last class never
    occurs in Y; ties: logits rounded to integers (tied scores, a = 0.5 exactly, tied maxima).
    """
    rng = np.random.default_rng(seed)
    k = 2 if n == 1 else n
    labels = rng.integers(0, k - 1 if kind == "absent" else k, m)
    Z = rng.normal(0, 2, (n, m))
    if kind == "ties":
        Z = np.round(Z / 2)
    if kind == "never":
        Z[-1] = -30.0 if n > 1 else -np.abs(Z[-1])  # one unit: a <= 0.5 everywhere
    if n == 1:
        return 1 / (1 + np.exp(-Z)), labels[None].astype(float)
    return softmax(Z), np.eye(n)[:, labels]


def references(A, Y):
    """True and predicted labels from the convention itself, not from class_indices."""
    if A.shape[0] == 1:
        return (Y[0] > 0.5).astype(int), (A[0] > 0.5).astype(int)
    return np.argmax(Y, axis=0), np.argmax(A, axis=0)


def sklearn_auc(y, A):
    """Per-class one-vs-rest AUC, NaN where undefined (binary: the AUC, for both classes).

    Per class rather than ``multi_class="ovr"``, which sklearn takes for three classes or
    more only; test_macro_auc_is_sklearn_ovr_macro_when_every_class_occurs checks that one.
    """
    if A.shape[0] == 1:
        return np.full(2, sk(skm.roc_auc_score, y, A[0]))
    return np.array([sk(skm.roc_auc_score, y == c, A[c]) for c in range(A.shape[0])])


def plain_types(obj) -> list:
    """The leaves of a report that are not plain Python (numpy scalars pass json's float)."""
    if isinstance(obj, dict):
        return [b for key, v in obj.items() for b in plain_types(key) + plain_types(v)]
    if isinstance(obj, list):
        return [b for v in obj for b in plain_types(v)]
    return [] if type(obj) in (int, float, str, type(None)) else [obj]


def assert_close_or_none(ours, theirs):
    """None where sklearn gives NaN (undefined), else equal to RTOL."""
    expected = [None if math.isnan(t) else pytest.approx(t, rel=RTOL) for t in np.atleast_1d(theirs)]
    assert list(np.atleast_1d(np.array(ours, dtype=object))) == expected


CASES = [(n, m, seed, kind)
         for n in (1, 2, 3, 4, 5)
         for m, seed in ((1, 0), (2, 1), (2, 2), (7, 3), (200, 4))
         for kind in ("plain", "never", "absent", "ties")]


@pytest.mark.parametrize("n, m, seed, kind", CASES)
def test_classification_report_matches_sklearn(n, m, seed, kind):
    A, Y = classification_case(n, m, seed, kind)
    k = 2 if n == 1 else n
    classes = [f"c{i}" for i in range(k)]
    y, p = references(A, Y)
    labels = list(range(k))
    report = classification_report(A, Y, classes)

    assert report["accuracy"] == pytest.approx(skm.accuracy_score(y, p), rel=RTOL)
    assert report["accuracy"] == pytest.approx(accuracy(A, Y), rel=RTOL)
    assert report["balanced_accuracy"] == pytest.approx(sk(skm.balanced_accuracy_score, y, p), rel=RTOL)
    assert report["confusion_matrix"] == skm.confusion_matrix(y, p, labels=labels).tolist()
    P, R, F, S = skm.precision_recall_fscore_support(y, p, labels=labels, average=None, zero_division=0)
    for c, label in enumerate(classes):
        got = report["per_class"][label]
        assert [got["precision"], got["recall"], got["f1"]] == pytest.approx([P[c], R[c], F[c]], rel=RTOL)
        assert got["support"] == S[c]
    for average in ("macro", "weighted"):
        expected = skm.precision_recall_fscore_support(y, p, labels=labels, average=average,
                                                       zero_division=0)[:3]
        got = report[average]
        assert [got["precision"], got["recall"], got["f1"]] == pytest.approx(expected, rel=RTOL)
    probabilities = A[0] if n == 1 else A.T
    assert report["log_loss"] == pytest.approx(sk(skm.log_loss, y, probabilities, labels=labels), rel=RTOL)
    per_class = sklearn_auc(y, A)
    assert_close_or_none([report["per_class"][c]["roc_auc"] for c in classes], per_class)
    defined = per_class[~np.isnan(per_class)]
    assert_close_or_none(report["roc_auc"], defined.mean() if defined.size else np.nan)
    assert plain_types(report) == []
    assert json.loads(json.dumps(report, allow_nan=False)) == report


@pytest.mark.parametrize("n, m, seed", [(1, 50, 5), (3, 50, 6), (4, 9, 8), (5, 300, 7)])
def test_macro_auc_is_sklearn_ovr_macro_when_every_class_occurs(n, m, seed):
    A, Y = classification_case(n, m, seed, "ties")
    y, _ = references(A, Y)
    assert len(np.unique(y)) == max(n, 2)  # the case holds what the test is about
    expected = skm.roc_auc_score(y, A[0]) if n == 1 else skm.roc_auc_score(
        y, A.T, multi_class="ovr", average="macro")
    assert classification_report(A, Y, [str(i) for i in range(max(n, 2))])["roc_auc"] == \
        pytest.approx(expected, rel=RTOL)


@pytest.mark.parametrize("m, k, seed", [(0, 1, 0), (1, 2, 1), (10, 3, 2), (1000, 5, 3)])
def test_confusion_matrix_matches_sklearn(m, k, seed):
    rng = np.random.default_rng(seed)
    true, pred = rng.integers(0, k, m), rng.integers(0, k, m)
    C = confusion_matrix(true, pred, k)
    assert C.dtype == np.int64 and C.shape == (k, k)
    assert_array_equal(C, skm.confusion_matrix(true, pred, labels=list(range(k))) if m else 0)


@pytest.mark.parametrize("true, pred", [([0, 3], [0, 1]), ([0, 1], [-1, 1]), ([0.0, 1.0], [0, 1]),
                                        ([[0, 1]], [[0, 1]]), ([0, 1], [0])])
def test_confusion_matrix_rejects_bad_indices(true, pred):
    with pytest.raises(DataError, match="class indices"):
        confusion_matrix(np.array(true), np.array(pred), 3)


@pytest.mark.parametrize("A, Y, true, pred", [
    # one output: a = 0.5 exactly is class 0, as predict labels it
    ([[0.5, 0.51, 0.49, 1.0, 0.0]], [[1, 1, 0, 0, 1]], [1, 1, 0, 0, 1], [0, 1, 0, 1, 0]),
    # softmax: the first of tied maxima
    ([[0.4, 0.2, 1 / 3], [0.4, 0.4, 1 / 3], [0.2, 0.4, 1 / 3]],
     [[0, 0, 0], [1, 0, 0], [0, 1, 1]], [1, 2, 2], [0, 1, 0]),
])
def test_class_indices_take_the_first_largest(A, Y, true, pred):
    got = class_indices(np.array(A), np.array(Y, dtype=float))
    assert_array_equal(got[0], true)
    assert_array_equal(got[1], pred)
    assert got[0].dtype == got[1].dtype == np.int64


def test_log_loss_renormalizes_softmax_after_clipping():
    """Clipped to [eps, 1 - eps], a column sums to 1 + eps and is divided by it.

    (The installed scikit-learn 1.9 clips without renormalizing: the same to ~k eps.)
    """
    A = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    Y = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    expected = (math.log(1 + EPS) - math.log(EPS) + math.log(1 + EPS) - math.log(1 - EPS)) / 2
    assert classification_report(A, Y, ["a", "b", "c"])["log_loss"] == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("seed", [0, 1])
def test_log_loss_renormalizes_float32_softmax(seed):
    """float32 softmax columns sum to 1 within ~1e-7; the loss is that of the renormalized ones."""
    A, Y = classification_case(4, 30, seed, "plain")
    A32 = A.astype(np.float32)
    P = np.clip(A32.astype(np.float64), EPS, 1 - EPS)
    assert np.abs(P.sum(axis=0) - 1).max() > 1e-9  # the sums really are off
    P = P / P.sum(axis=0)
    expected = -np.mean(np.log(np.sum(P * Y, axis=0)))
    got = classification_report(A32, Y, list("abcd"))["log_loss"]
    assert got == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 3])
def test_log_loss_is_finite_when_confidently_wrong(n, dtype):
    """Probabilities of exactly 0 and 1 (saturated outputs) cost -ln(eps) = 36.04, not inf."""
    if n == 1:
        A, Y = np.array([[1.0, 0.0]], dtype=dtype), np.array([[0.0, 1.0]])
    else:
        A, Y = np.array([[1, 0], [0, 1], [0, 0]], dtype=dtype), np.array([[0, 1], [0, 0], [1, 0.0]])
    report = classification_report(A, Y, [str(i) for i in range(max(n, 2))])
    assert report["log_loss"] == pytest.approx(-math.log(EPS), rel=1e-12)


@pytest.mark.parametrize("a, y, auc", [
    ([0.3, 0.3, 0.3, 0.3], [0, 1, 0, 1], 0.5),  # all tied: every pair counts 1/2
    ([0.1, 0.4, 0.4, 0.9], [0, 0, 1, 1], 0.875),  # one tied pair of four
    ([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1], 0.0),
    ([1e-300, 2e-300, 0.5, 0.5], [0, 1, 0, 1], 0.625),  # tiny distinct scores stay distinct
])
def test_binary_auc_by_hand(a, y, auc):
    report = classification_report(np.array([a]), np.array([y], dtype=float), ["n", "p"])
    assert report["roc_auc"] == auc
    assert report["per_class"]["n"]["roc_auc"] == report["per_class"]["p"]["roc_auc"] == auc


@pytest.mark.parametrize("A, Y, classes, match", [
    (np.zeros((1, 3)), np.zeros((1, 4)), ["a", "b"], "both be"),
    (np.zeros((1, 0)), np.zeros((1, 0)), ["a", "b"], "no samples"),
    (np.zeros((1, 3)), np.zeros((1, 3)), ["a"], "expected 2 class names"),
    (np.zeros((3, 2)), np.zeros((3, 2)), ["a", "b"], "expected 3 class names"),
    (np.zeros((3, 2)), np.zeros((3, 2)), ["a", "b", "a"], "unique"),
    (np.array([[np.nan, 0.5]]), np.zeros((1, 2)), ["a", "b"], "NaN"),
])
def test_classification_report_rejects_bad_input(A, Y, classes, match):
    with pytest.raises(DataError, match=match):
        classification_report(A, Y, classes)


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 5), m=st.integers(1, 40), seed=st.integers(0, 2**32 - 1),
       levels=st.sampled_from([2, 5, 1000]))
def test_classification_report_matches_sklearn_on_any_shape(n, m, seed, levels):
    """Logits drawn from ``levels`` values: few levels give ties and absent classes."""
    rng = np.random.default_rng(seed)
    k = max(n, 2)
    Z = rng.integers(0, levels, (n, m)) * (4 / levels) - 2
    A = 1 / (1 + np.exp(-Z)) if n == 1 else softmax(Z)
    y = rng.integers(0, rng.integers(1, k + 1), m)  # sometimes only the first classes occur
    Y = y[None].astype(float) if n == 1 else np.eye(n)[:, y]
    _, p = references(A, Y)
    labels = list(range(k))
    report = classification_report(A, Y, [f"c{i}" for i in labels])

    assert report["accuracy"] == pytest.approx(accuracy(A, Y), rel=RTOL)
    assert report["balanced_accuracy"] == pytest.approx(sk(skm.balanced_accuracy_score, y, p), rel=RTOL)
    assert report["confusion_matrix"] == skm.confusion_matrix(y, p, labels=labels).tolist()
    for average in ("macro", "weighted"):
        expected = skm.precision_recall_fscore_support(y, p, labels=labels, average=average,
                                                       zero_division=0)[:3]
        assert list(report[average].values()) == pytest.approx(expected, rel=RTOL)
    probabilities = A[0] if n == 1 else A.T
    assert report["log_loss"] == pytest.approx(sk(skm.log_loss, y, probabilities, labels=labels), rel=RTOL)
    per_class = sklearn_auc(y, A)
    assert_close_or_none([v["roc_auc"] for v in report["per_class"].values()], per_class)
    assert plain_types(report) == []


# Regression ------------------------------------------------------------------------------

def regression_case(n, m, seed):
    rng = np.random.default_rng(seed)
    Y = rng.normal(3, 2, (n, m))
    return Y + rng.normal(0, 1, (n, m)), Y


def sklearn_regression(A, Y):
    """sklearn's per-target MAE, RMSE, R^2 (samples as rows for sklearn)."""
    kw = {"multioutput": "raw_values"}
    return (skm.mean_absolute_error(Y.T, A.T, **kw), skm.root_mean_squared_error(Y.T, A.T, **kw),
            sk(skm.r2_score, Y.T, A.T, **kw))


@pytest.mark.parametrize("n, m, seed", [(1, 2, 0), (1, 3, 1), (2, 2, 2), (3, 50, 3), (5, 1000, 4)])
def test_regression_report_matches_sklearn(n, m, seed):
    A, Y = regression_case(n, m, seed)
    names = [f"t{i}" for i in range(n)]
    report = regression_report(A, Y, names)
    mae, rmse, r2s = sklearn_regression(A, Y)
    for i, name in enumerate(names):
        got = report["per_target"][name]
        assert [got["mae"], got["rmse"], got["r2"]] == pytest.approx([mae[i], rmse[i], r2s[i]], rel=RTOL)
    assert report["mae"] == pytest.approx(skm.mean_absolute_error(Y.T, A.T), rel=RTOL)
    assert report["rmse"] == pytest.approx(skm.root_mean_squared_error(Y.T, A.T), rel=RTOL)
    assert report["rmse"] == pytest.approx(np.mean(np.sqrt(skm.mean_squared_error(Y.T, A.T, multioutput="raw_values"))), rel=RTOL)
    assert report["r2"] == pytest.approx(skm.r2_score(Y.T, A.T), rel=RTOL)
    assert report["r2"] == pytest.approx(r2(A, Y), rel=RTOL)
    assert plain_types(report) == []
    assert json.loads(json.dumps(report, allow_nan=False)) == report


@pytest.mark.parametrize("A, Y, expected_r2", [
    ([[2.0, 2.0]], [[2.0, 2.0]], 1.0),  # constant target, predicted exactly
    ([[2.0, 2.5]], [[2.0, 2.0]], 0.0),
    ([[0.2, 0.2, 0.2]], [[0.1, 0.1, 0.1]], 0.0),  # sklearn: -5e31, from its rounded mean
    ([[0.1, 0.1, 0.1]], [[0.1, 0.1, 0.1]], 1.0),
    ([[3.0]], [[3.0]], 1.0),  # m = 1 (sklearn: NaN)
    ([[3.5]], [[3.0]], 0.0),
])
def test_r2_of_a_constant_target_and_of_one_sample(A, Y, expected_r2):
    A, Y = np.array(A), np.array(Y)
    report = regression_report(A, Y, ["y"])
    assert report["r2"] == expected_r2 == r2(A, Y)
    assert report["mae"] == pytest.approx(skm.mean_absolute_error(Y.T, A.T), rel=RTOL)
    assert report["rmse"] == pytest.approx(skm.root_mean_squared_error(Y.T, A.T), rel=RTOL)


@pytest.mark.parametrize("scale", [2.0**-1000, 2.0**-500, 2.0**500, 2.0**1000, 1e154, 1e200, 1e300])
def test_regression_report_scales_with_the_targets(scale):
    """At 1e154 and past it squares overflow; the report is the unit-scale one, scaled."""
    A, Y = regression_case(3, 40, 5)
    big = 2 * np.abs(np.stack([A, Y])).max()  # keep A * scale and Y * scale finite
    A, Y = A / big, Y / big
    unit, report = regression_report(A, Y, ["a", "b", "c"]), regression_report(A * scale, Y * scale, ["a", "b", "c"])
    rtol = 1e-12
    for name in ("a", "b", "c"):
        got, ref = report["per_target"][name], unit["per_target"][name]
        assert got["mae"] == pytest.approx(ref["mae"] * scale, rel=rtol)
        assert got["rmse"] == pytest.approx(ref["rmse"] * scale, rel=rtol)
        assert got["r2"] == pytest.approx(ref["r2"], rel=rtol)
    assert report["r2"] == pytest.approx(skm.r2_score(Y.T, A.T), rel=rtol)


@pytest.mark.parametrize("A, Y, mae, rmse, expected_r2", [
    # errors of 3e308 exceed float64: MAE and RMSE honestly inf, R^2 = 1 - 4 still exact
    ([[-1.5e308, 1.5e308]], [[1.5e308, -1.5e308]], math.inf, math.inf, -3.0),
    # Y - mean would overflow (mean 0.57e308): SSE / SST = 0.01^2 x 3 / (24 / 9)
    ([[1.7e308 * 0.99, -1.7e308 * 0.99, 1.7e308 * 0.99]], [[1.7e308, -1.7e308, 1.7e308]],
     1.7e306, 1.7e306, 1 - 1.125e-4),
    # errors of 1e200: squares overflow, the RMSE does not
    ([[1e200, -1e200]], [[0.0, 0.0]], 1e200, 1e200, 0.0),
    # errors near 1e-170: squares underflow, the RMSE does not; R^2 = 1 - 5 / 4.5
    ([[0.0, 0.0]], [[1e-170, -2e-170]], 1.5e-170, math.sqrt(2.5) * 1e-170, -1 / 9),
    # errors of one ulp: MAE (1 + 2) ulp(1) / 2, RMSE sqrt((1 + 4) / 2) ulp(1)
    ([[1.0, 2.0]], [[1.0 + 2.0**-52, 2.0 - 2.0**-51]], 1.5 * 2.0**-52, math.sqrt(2.5) * 2.0**-52,
     1 - 2.5 * 2.0**-104 / 0.5),
])
def test_regression_report_near_float64_limits(A, Y, mae, rmse, expected_r2):
    report = regression_report(np.array(A), np.array(Y), ["y"])
    assert report["mae"] == pytest.approx(mae, rel=1e-12)
    assert report["rmse"] == pytest.approx(rmse, rel=1e-12)
    assert report["r2"] == pytest.approx(expected_r2, rel=1e-12)


@pytest.mark.parametrize("A, Y, names, match", [
    (np.zeros((2, 3)), np.zeros((2, 4)), ["a", "b"], "both be"),
    (np.zeros((2, 3)), np.zeros((2, 3)), ["a"], "expected 2 target names"),
    (np.zeros((2, 3)), np.zeros((2, 3)), ["a", "a"], "unique"),
    (np.zeros((1, 3)), np.full((1, 3), np.inf), ["a"], "infinity"),
])
def test_regression_report_rejects_bad_input(A, Y, names, match):
    with pytest.raises(DataError, match=match):
        regression_report(A, Y, names)


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 5), m=st.integers(2, 40), seed=st.integers(0, 2**32 - 1),
       exponent=st.integers(-900, 900))
def test_regression_report_matches_sklearn_at_any_scale(n, m, seed, exponent):
    """sklearn on the unit-scale data, times 2^exponent (exact), against the report at scale."""
    A, Y = regression_case(n, m, seed)
    scale = 2.0**exponent
    report = regression_report(A * scale, Y * scale, [str(i) for i in range(n)])
    mae, rmse, r2s = sklearn_regression(A, Y)
    got = np.array([[v["mae"], v["rmse"], v["r2"]] for v in report["per_target"].values()])
    assert_allclose(got[:, :2], np.stack([mae * scale, rmse * scale], axis=1), rtol=1e-12, atol=0)
    # R^2 = 1 - SSE/SST is accurate to ~1e-16 absolutely, not relatively when it is near 0
    assert_allclose(got[:, 2], r2s, rtol=1e-12, atol=1e-14)
    assert report["r2"] == pytest.approx(r2(A * scale, Y * scale), rel=1e-12)
