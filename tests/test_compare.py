"""Paired model comparison: DeLong's test against a direct computation, the paired bootstrap, Holm, refusals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from murad.compare import COLUMNS, delong, holm, paired_comparison
from murad.jobs.evaluate import compare_to_best
from murad.metrics import metric_names

MURAD = Path(sys.executable).with_name("murad")


def studies(n: int = 240, strength: float = 0.3, seed: int = 0) -> pd.DataFrame:
    """Every body part holds both classes; probabilities rounded to 2 decimals, so there are ties."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    prob = np.round(np.clip(0.5 + strength * (label - 0.5) + rng.normal(0, 0.2, n), 0, 1), 2)
    parts = np.array(["wrist", "elbow", "hand"])[np.arange(n) % 3]
    return pd.DataFrame({"study": [f"s{i:04d}" for i in range(n)], "body_part": parts, "label": label, "prob": prob})


def direct_delong(label: np.ndarray, scores: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and their covariance from the structural components, one Mann-Whitney kernel per pair of studies."""
    v10, v01 = [], []
    for score in scores:
        x, y = score[label == 1], score[label == 0]
        kernel = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])  # m x n, ties count 1/2
        v10.append(kernel.mean(1))
        v01.append(kernel.mean(0))
    v10, v01 = np.array(v10), np.array(v01)
    m, n = v10.shape[1], v01.shape[1]
    s10 = (v10 - v10.mean(1, keepdims=True)) @ (v10 - v10.mean(1, keepdims=True)).T / (m - 1)
    s01 = (v01 - v01.mean(1, keepdims=True)) @ (v01 - v01.mean(1, keepdims=True)).T / (n - 1)
    return v10.mean(1), s10 / m + s01 / n


def test_delong_matches_the_direct_structural_components_with_ties():
    table, other = studies(seed=1), studies(strength=0.15, seed=2)
    label, a, b = table["label"].to_numpy(), table["prob"].to_numpy(), other["prob"].to_numpy()
    assert len(np.unique(a)) < len(a) / 2  # many ties
    fast = delong(label, a, b)
    auc, covariance = direct_delong(label, [a, b])
    np.testing.assert_allclose(fast.auc, auc, rtol=1e-12)
    np.testing.assert_allclose(fast.auc, [roc_auc_score(label, a), roc_auc_score(label, b)], rtol=1e-12)
    np.testing.assert_allclose(fast.covariance, covariance, rtol=1e-10)
    z = (auc[0] - auc[1]) / np.sqrt(covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1])
    assert fast.p_value == pytest.approx(2 * (1 - norm.cdf(abs(z))), rel=1e-9)


def test_identical_tables_give_no_difference_and_p_one():
    table = studies()
    result = paired_comparison(table, table.sample(frac=1, random_state=3), repetitions=200)
    assert result[["difference", "difference_low", "difference_high"]].eq(0).all().all()
    assert result["p_value"].eq(1).all()
    pd.testing.assert_series_equal(result["a"], result["b"], check_names=False)


def test_the_bootstrap_is_paired():
    # Squeezing every probability towards the threshold changes no ranking and no prediction: every metric is the
    # same on every resample, which only holds when both tables are scored on the same resampled studies.
    table = studies()
    squeezed = table.assign(prob=0.5 + (table["prob"] - 0.5) / 2)
    result = paired_comparison(table, squeezed, repetitions=200)
    assert result[["difference", "difference_low", "difference_high"]].eq(0).all().all()
    assert result["p_value"].eq(1).all()


def test_a_clearly_better_model_gets_small_p_values():
    good, poor = studies(n=300, strength=0.6, seed=4), studies(n=300, strength=0.05, seed=5)
    poor = good.assign(prob=poor["prob"].to_numpy())
    result = paired_comparison(good, poor, repetitions=200, seed=1).set_index(["scope", "metric"])
    for metric in ("auc", "kappa"):
        row = result.loc[("overall", metric)]
        assert row["difference"] > 0 and row["difference_low"] > 0 and row["p_value"] < 0.01, metric
    reversed_ = paired_comparison(poor, good, repetitions=200, seed=1).set_index(["scope", "metric"])
    assert reversed_.loc[("overall", "auc"), "p_value"] == pytest.approx(result.loc[("overall", "auc"), "p_value"])
    assert reversed_.loc[("overall", "auc"), "difference"] < 0


def test_output_columns_and_row_order():
    table = studies(n=60)
    result = paired_comparison(table, table.assign(prob=table["prob"][::-1].to_numpy()), repetitions=50)
    assert list(result.columns) == COLUMNS
    expected = [(scope, metric) for scope in ("overall", "elbow", "hand", "wrist") for metric in metric_names()]
    assert list(zip(result["scope"], result["metric"], strict=True)) == expected


def test_a_scope_with_one_class_has_no_auc_test():
    table = studies(n=60)
    table.loc[table["body_part"] == "hand", "label"] = 1
    result = paired_comparison(table, table.assign(prob=1 - table["prob"]), repetitions=50).set_index(
        ["scope", "metric"]
    )
    assert result.loc[("hand", "auc"), ["a", "b", "difference", "p_value"]].isna().all()
    assert not np.isnan(result.loc[("overall", "auc"), "p_value"])


def test_holm_against_a_hand_computed_example():
    # sorted 0.005, 0.01, 0.03, 0.04 (m = 4): x4 = 0.02, x3 = 0.03, x2 = 0.06, x1 = 0.04 -> 0.06 (monotone)
    adjusted = holm([0.01, 0.04, np.nan, 0.03, 0.005])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, np.nan, 0.06, 0.02])
    np.testing.assert_allclose(holm([0.5, 0.6]), [1.0, 1.0])  # capped at 1
    assert holm([]).shape == (0,)


def refused(tmp_path: Path, a: pd.DataFrame, b: pd.DataFrame) -> tuple[str, Path, Path]:
    paths = tmp_path / "model_a.csv", tmp_path / "model_b.csv"
    for table, path in zip((a, b), paths, strict=True):
        table.to_csv(path, index=False)
    out = tmp_path / "comparison.csv"
    done = subprocess.run(
        [str(MURAD), "compare", *map(str, paths), "--out", str(out), "--bootstrap", "20"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert not out.exists() and not list(tmp_path.glob(".*partial"))
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0], *paths


def test_cli_refuses_a_missing_study(tmp_path):
    table = studies(n=30)
    line, a, b = refused(tmp_path, table, table.drop(index=7))
    assert "s0007" in line and f"missing from {b}" in line


def test_cli_refuses_a_label_mismatch(tmp_path):
    table = studies(n=30)
    changed = table.copy()
    changed.loc[[4, 9], "label"] = 1 - changed.loc[[4, 9], "label"]
    line, a, b = refused(tmp_path, table, changed)
    expected = f"study s0004 has label {table['label'][4]} in {a} but {1 - table['label'][4]} in {b}"
    assert line.endswith(expected)


def test_cli_refuses_a_missing_column(tmp_path):
    table = studies(n=30)
    line, a, b = refused(tmp_path, table, table.drop(columns="prob"))
    assert line.endswith(f"{b}: no column 'prob' (needs study, body_part, label, prob)")


def test_cli_writes_the_comparison(tmp_path):
    table = studies(n=60)
    paths = tmp_path / "a.csv", tmp_path / "b.csv"
    table.to_csv(paths[0], index=False)
    table.assign(prob=table["prob"][::-1].to_numpy()).to_csv(paths[1], index=False)
    out = tmp_path / "out" / "comparison.csv"
    command = [str(MURAD), "compare", *map(str, paths), "--out", str(out), "--bootstrap", "50"]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    written = pd.read_csv(out)
    expected = paired_comparison(pd.read_csv(paths[0]), pd.read_csv(paths[1]), repetitions=50).round(6)
    pd.testing.assert_frame_equal(written, expected)


def test_the_comparison_is_with_the_best_on_the_tuning_split_not_on_valid(tmp_path):
    # "tuned" is best on the tuning split, "other" on valid: the job compares everything with "tuned".
    rng = np.random.default_rng(3)
    label = rng.integers(0, 2, 300)
    sharp = np.clip(label * 0.6 + 0.2 + rng.normal(0, 0.1, 300), 0, 1)
    noisy = np.clip(label * 0.2 + 0.4 + rng.normal(0, 0.2, 300), 0, 1)
    frame = pd.DataFrame({"study": [f"s{i:03d}" for i in range(300)], "body_part": "hand", "label": label})
    paths = {}
    for split, probs in (("tune", {"tuned": sharp, "other": noisy}), ("valid", {"tuned": noisy, "other": sharp})):
        for name, prob in probs.items():
            paths[split, name] = tmp_path / f"{split}_{name}.csv"
            frame.assign(prob=prob).to_csv(paths[split, name], index=False)
    out = tmp_path / "vs_best.csv"
    compare_to_best(
        {name: str(paths["tune", name]) for name in ("tuned", "other")},
        {name: str(paths["valid", name]) for name in ("tuned", "other")},
        str(out),
        repetitions=100,
    )
    table = pd.read_csv(out)
    assert set(table["best"]) == {"tuned"} and set(table["name"]) == {"other"}
    kappa = table[(table["scope"] == "overall") & (table["metric"] == "kappa")].iloc[0]
    assert kappa["difference"] > 0 and kappa["p_holm"] < 0.05  # better on valid than the best on tune, and it shows
