"""Evaluation metrics: hand-computed cases, scikit-learn as the reference, degenerate cases, bootstrap."""

from __future__ import annotations

import hashlib
import math
import warnings

import numpy as np
import pytest

from appliance.evaluate import metrics as M
from appliance.evaluate.scoring import RunArrays, score_run
from appliance.evaluate.split import in_split, split_of

sk = pytest.importorskip("sklearn.metrics")


def test_hand_computed_case():
    # TP=3, FP=1, TN=4, FN=2
    y = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    p = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    c = M.confusion(y, p)
    assert c == M.Confusion(tp=3, fp=1, tn=4, fn=2)
    assert M.sensitivity(c) == pytest.approx(3 / 5)
    assert M.specificity(c) == pytest.approx(4 / 5)
    assert M.precision(c) == pytest.approx(3 / 4)
    f1_pos = 2 * 3 / (2 * 3 + 1 + 2)  # 6/9
    f1_neg = 2 * 4 / (2 * 4 + 1 + 2)  # 8/11
    assert M.f1(c) == pytest.approx(f1_pos)
    assert M.macro_f1(c) == pytest.approx((f1_pos + f1_neg) / 2)
    assert M.mcc(c) == pytest.approx((3 * 4 - 1 * 2) / math.sqrt(4 * 5 * 5 * 6))


def test_hand_computed_auc_with_ties():
    # positives 0.9, 0.5 ; negatives 0.5, 0.1 -> pairs: (0.9>0.5)=1, (0.9>0.1)=1, (0.5=0.5)=0.5, (0.5>0.1)=1
    assert M.roc_auc([1, 1, 0, 0], [0.9, 0.5, 0.5, 0.1]) == pytest.approx(3.5 / 4)
    assert M.roc_auc([1, 0], [0.2, 0.8]) == 0.0
    assert M.roc_auc([1, 0, 1, 0], [0.5, 0.5, 0.5, 0.5]) == 0.5


def test_degenerate_cases():
    # No positives at all, all predicted negative.
    c = M.confusion([0, 0, 0], [0, 0, 0])
    assert M.sensitivity(c) is None
    assert M.specificity(c) == 1.0
    assert M.precision(c) is None
    assert M.f1(c) == 0.0  # scikit-learn zero_division=0
    assert M.macro_f1(c) == 0.5
    assert M.mcc(c) == 0.0
    # Everything predicted one class -> MCC 0.
    assert M.mcc(M.confusion([1, 0, 1, 0], [1, 1, 1, 1])) == 0.0
    assert M.mcc(M.confusion([1, 0, 1, 0], [0, 0, 0, 0])) == 0.0
    # AUC undefined with one class -> None.
    assert M.roc_auc([0, 0, 0], [0.1, 0.5, 0.9]) is None
    assert M.roc_auc([1, 1], [0.1, 0.5]) is None
    assert M.roc_auc([], []) is None
    # Empty set: everything undefined.
    c0 = M.confusion([], [])
    assert all(fn(c0) is None for fn in (M.sensitivity, M.specificity, M.precision, M.f1, M.macro_f1, M.mcc))
    # Perfect and inverted.
    assert M.mcc(M.confusion([1, 0], [1, 0])) == 1.0
    assert M.mcc(M.confusion([1, 0], [0, 1])) == -1.0


@pytest.mark.parametrize("seed", range(40))
def test_against_sklearn_random(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    prevalence = rng.choice([0.0, 0.05, 0.3, 0.5, 0.9, 1.0])
    y = rng.random(n) < prevalence
    mode = seed % 4
    if mode == 0:
        p = np.ones(n, bool)
    elif mode == 1:
        p = np.zeros(n, bool)
    else:
        p = rng.random(n) < rng.random()
    # Scores with deliberate ties (rounded to one decimal).
    s = np.round(np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1), 1 if seed % 2 else 3)
    c = M.confusion(y, p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tn, fp, fn, tp = sk.confusion_matrix(y, p, labels=[False, True]).ravel()
        assert c == M.Confusion(tp=int(tp), fp=int(fp), tn=int(tn), fn=int(fn))
        assert M.f1(c) == pytest.approx(sk.f1_score(y, p, zero_division=0))
        assert M.macro_f1(c) == pytest.approx(sk.f1_score(y, p, average="macro", labels=[False, True], zero_division=0))
        assert M.mcc(c) == pytest.approx(sk.matthews_corrcoef(y, p), abs=1e-12)
        if y.any():
            assert M.sensitivity(c) == pytest.approx(sk.recall_score(y, p, zero_division=0))
        else:
            assert M.sensitivity(c) is None
        if p.any():
            assert M.precision(c) == pytest.approx(sk.precision_score(y, p, zero_division=0))
        else:
            assert M.precision(c) is None
        if (~y).any():
            assert M.specificity(c) == pytest.approx(sk.recall_score(~y, ~p, zero_division=0))
        if y.any() and (~y).any():
            assert M.roc_auc(y, s) == pytest.approx(sk.roc_auc_score(y, s))
            fpr, tpr, _ = M.roc_curve(y, s)
            trapezoid = getattr(np, "trapezoid", None) or np.trapz
            assert trapezoid(tpr, fpr) == pytest.approx(sk.roc_auc_score(y, s))
        else:
            assert M.roc_auc(y, s) is None


def test_weighted_auc_equals_auc_on_repeated_documents():
    rng = np.random.default_rng(3)
    y = rng.random(30) < 0.4
    s = np.round(rng.random(30), 2)
    w = rng.integers(0, 4, size=(5, 30)).astype(float)
    got = M.weighted_auc(y, s, w)
    for row, g in zip(w, got):
        idx = np.repeat(np.arange(30), row.astype(int))
        yy, ss = y[idx], s[idx]
        want = sk.roc_auc_score(yy, ss) if yy.any() and (~yy).any() else np.nan
        assert (np.isnan(g) and np.isnan(want)) or g == pytest.approx(want)


def test_vectorised_rates_match_scalar():
    rng = np.random.default_rng(1)
    counts = rng.integers(0, 6, size=(200, 4))
    r = M.rates(*counts.T)
    for i, (tp, fp, tn, fn) in enumerate(counts):
        c = M.Confusion(int(tp), int(fp), int(tn), int(fn))
        for name, fn_ in (("sensitivity", M.sensitivity), ("specificity", M.specificity), ("mcc", M.mcc),
                          ("macro_f1", M.macro_f1), ("precision", M.precision), ("f1", M.f1)):
            v = fn_(c)
            assert (v is None and np.isnan(r[name][i])) or r[name][i] == pytest.approx(v)


def _arrays(seed: int, n: int = 50, f: int = 4) -> RunArrays:
    rng = np.random.default_rng(seed)
    y = rng.random((n, f)) < 0.3
    score = np.clip(0.4 * y + 0.6 * rng.random((n, f)), 0, 1)
    ext = rng.random((n, f)) > 0.1
    ids = [f"d{i:03d}" for i in range(n)]
    return RunArrays(ids=ids, splits=[split_of(i) for i in ids], keys=[f"k{j}" for j in range(f)], y=y,
                     labelled=np.ones((n, f), bool), value=(score >= 0.5) & ext, extracted=ext,
                     score=np.where(ext, score, np.nan), threshold=np.full((n, f), 0.5), seconds=np.full(n, 0.1))


def test_bootstrap_is_deterministic_and_seed_dependent():
    a = _arrays(0)
    r1 = score_run(a, replicates=200, seed=7)
    r2 = score_run(a, replicates=200, seed=7)
    r3 = score_run(a, replicates=200, seed=8)
    assert r1 == r2
    ci1 = r1["summary"]["median"]["extracted"]["mcc"]["ci"]
    assert ci1 != r3["summary"]["median"]["extracted"]["mcc"]["ci"]
    lo, hi = ci1
    assert lo <= r1["summary"]["median"]["extracted"]["mcc"]["value"] <= hi
    assert np.array_equal(M.bootstrap_weights(10, 5, 1), M.bootstrap_weights(10, 5, 1))
    assert M.bootstrap_weights(10, 5, 1).sum(axis=1).tolist() == [10.0] * 5


def test_score_run_point_values_match_scalar_metrics():
    a = _arrays(2)
    r = score_run(a, replicates=0)
    for j, k in enumerate(a.keys):
        fe = r["features"][k]
        # missing-aware view: only extracted documents
        m = a.extracted[:, j]
        c = M.confusion(a.y[m, j], a.value[m, j])
        assert (fe["extracted"]["tp"], fe["extracted"]["fp"], fe["extracted"]["tn"], fe["extracted"]["fn"]) == c[:4]
        assert fe["extracted"]["mcc"]["value"] == pytest.approx(M.mcc(c), abs=1e-6)
        # study view: missing scored False, on all documents
        c2 = M.confusion(a.y[:, j], a.value[:, j] & a.extracted[:, j])
        assert fe["missing_false"]["fn"] == c2.fn and fe["missing_false"]["n"] == a.n
        assert fe["missing_false"]["macro_f1"]["value"] == pytest.approx(M.macro_f1(c2), abs=1e-6)
        assert fe["missing"]["count"] == int((~m).sum())
        assert fe["missing"]["rate"]["value"] == pytest.approx((~m).mean(), abs=1e-6)
        s = np.isfinite(a.score[:, j])
        assert fe["auc"]["value"] == pytest.approx(M.roc_auc(a.y[s, j], a.score[s, j]), abs=1e-6)
        assert fe["auc"]["ci"] is None
    med = r["summary"]["median"]["missing_false"]["mcc"]["value"]
    assert med == pytest.approx(np.median([r["features"][k]["missing_false"]["mcc"]["value"] for k in a.keys]), abs=1e-6)


def test_missing_is_never_a_silent_negative():
    # One positive document whose value is missing: the extracted view does not count it as FN,
    # the study view does, and the missing rate shows it.
    ids = ["a", "b", "c", "d"]
    y = np.array([[True], [True], [False], [False]])
    ext = np.array([[True], [False], [True], [True]])
    val = np.array([[True], [False], [False], [False]])
    a = RunArrays(ids=ids, splits=[split_of(i) for i in ids], keys=["k"], y=y, labelled=np.ones_like(y),
                  value=val, extracted=ext, score=np.full((4, 1), np.nan), threshold=np.full((4, 1), np.nan),
                  seconds=np.zeros(4))
    fe = score_run(a, replicates=0)["features"]["k"]
    assert fe["extracted"]["fn"] == 0 and fe["extracted"]["sensitivity"]["value"] == 1.0
    assert fe["missing_false"]["fn"] == 1 and fe["missing_false"]["sensitivity"]["value"] == 0.5
    assert fe["missing"]["count"] == 1 and fe["missing"]["rate"]["value"] == 0.25
    assert fe["auc"]["value"] is None


def test_features_without_both_classes_are_excluded_from_the_median():
    a = _arrays(4)
    a.y[:, 0] = False
    r = score_run(a, replicates=20)
    assert r["summary"]["excluded"] == {"k0": "no positives"}
    assert "k0" not in r["summary"]["features"]
    assert r["features"]["k0"]["extracted"]["sensitivity"]["value"] is None
    assert r["features"]["k0"]["auc"]["value"] is None


def test_split_rule_is_the_documented_one():
    for i in range(500):
        doc_id = f"doc-{i}"
        want = "dev" if int(hashlib.sha256(doc_id.encode()).hexdigest(), 16) % 10 < 7 else "test"
        assert split_of(doc_id) == want
        assert in_split(doc_id, want) and in_split(doc_id, "all")
    share = sum(split_of(f"x{i}") == "dev" for i in range(5000)) / 5000
    assert 0.67 < share < 0.73
    with pytest.raises(ValueError):
        in_split("x", "train")  # type: ignore[arg-type]
