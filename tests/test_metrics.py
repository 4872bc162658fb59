"""Study aggregation and metrics against hand-computed confusion matrices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from murad.metrics import aggregate_studies, metric_names, study_metrics


def images_table() -> pd.DataFrame:
    # study s1 has views that disagree: 0.9 and 0.3 -> mean 0.6 (abnormal), max 0.9
    rows = [
        ("s1/i1", "p1", "s1", "hand", 1, 0.9),
        ("s1/i2", "p1", "s1", "hand", 1, 0.3),
        ("s2/i1", "p2", "s2", "hand", 0, 0.2),
        ("s3/i1", "p3", "s3", "hand", 1, 0.4),
        ("s4/i1", "p4", "s4", "wrist", 0, 0.7),
        ("s5/i1", "p5", "s5", "wrist", 1, 0.8),
        ("s5/i2", "p5", "s5", "wrist", 1, 0.6),
        ("s6/i1", "p6", "s6", "wrist", 0, 0.1),
        ("s6/i2", "p6", "s6", "wrist", 0, 0.45),
    ]
    return pd.DataFrame(rows, columns=["path", "patient", "study", "body_part", "label", "prob"])


def test_mean_and_max_aggregation_with_disagreeing_views():
    mean = aggregate_studies(images_table()).set_index("study")
    assert mean.loc["s1", "prob"] == pytest.approx(0.6) and mean.loc["s1", "pred"] == 1
    assert mean.loc["s6", "prob"] == pytest.approx(0.275) and mean.loc["s6", "pred"] == 0
    maximum = aggregate_studies(images_table(), how="max").set_index("study")
    assert maximum.loc["s1", "prob"] == pytest.approx(0.9)
    assert list(mean.columns) == ["patient", "body_part", "label", "prob", "pred"]


def test_metrics_match_the_hand_computed_confusion_matrix():
    studies = aggregate_studies(images_table())
    # predictions: s1 1 (TP), s2 0 (TN), s3 0 (FN), s4 1 (FP), s5 1 (TP), s6 0 (TN) -> TP 2, TN 2, FP 1, FN 1
    table = study_metrics(studies, repetitions=200).set_index("scope")
    overall = table.loc["overall"]
    assert overall["n_studies"] == 6 and overall["n_abnormal"] == 3
    assert overall["accuracy"] == pytest.approx(4 / 6)
    assert overall["precision"] == pytest.approx(2 / 3)
    assert overall["recall"] == pytest.approx(2 / 3)
    assert overall["f1"] == pytest.approx(2 / 3)
    observed, expected = 4 / 6, (3 / 6) * (3 / 6) + (3 / 6) * (3 / 6)
    assert overall["kappa"] == pytest.approx((observed - expected) / (1 - expected))
    # AUC by hand: abnormal probs 0.6, 0.4, 0.7 against normal 0.2, 0.7, 0.275 -> 6.5 of 9 pairs ordered right
    assert overall["auc"] == pytest.approx(6.5 / 9)
    hand = table.loc["hand"]  # s1 TP, s2 TN, s3 FN
    assert hand["accuracy"] == pytest.approx(2 / 3) and hand["recall"] == pytest.approx(0.5)
    assert hand["precision"] == pytest.approx(1.0)


def test_intervals_bracket_the_estimate_and_body_parts_sum_to_overall():
    rng = np.random.default_rng(0)
    n = 300
    label = rng.integers(0, 2, n)
    prob = np.clip(label * 0.35 + rng.random(n) * 0.65, 0, 1)
    parts = rng.choice(["elbow", "hand", "wrist"], n)
    studies = pd.DataFrame({"study": [f"s{i:03d}" for i in range(n)], "body_part": parts, "label": label, "prob": prob})
    table = study_metrics(studies, repetitions=300, seed=3).set_index("scope")
    for metric in metric_names():
        assert (table[f"{metric}_low"] <= table[metric]).all() and (table[metric] <= table[f"{metric}_high"]).all()
    per_part = table.drop(index="overall")
    assert per_part["n_studies"].sum() == table.loc["overall", "n_studies"] == n
    assert per_part["n_abnormal"].sum() == table.loc["overall", "n_abnormal"]
    again = study_metrics(studies.sample(frac=1, random_state=1), repetitions=300, seed=3).set_index("scope")
    pd.testing.assert_frame_equal(table, again)  # independent of row order


def test_missing_columns_are_named_by_the_one_reader_before_any_metric(tmp_path):
    from murad.prediction_tables import read_study_table

    path = tmp_path / "studies.csv"
    pd.DataFrame({"study": ["a"], "body_part": ["hand"], "label": [1]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="no column 'prob'"):
        read_study_table(path)


def test_vectorised_bootstrap_agrees_with_scikit_learn_on_every_resample():
    from murad.metrics import point_metrics, resampled_metrics

    rng = np.random.default_rng(5)
    label = rng.integers(0, 2, 40)
    prob = np.round(rng.random(40), 1)  # ties on purpose
    fast = resampled_metrics(label, prob, 0.5, 25, np.random.default_rng(9))
    index = np.random.default_rng(9).integers(0, 40, (25, 40))
    for r in range(25):
        slow = point_metrics(label[index[r]], prob[index[r]])
        for name in metric_names():
            assert fast[name][r] == pytest.approx(slow[name], nan_ok=True), (name, r)


def test_a_metric_added_in_one_place_reaches_table3_the_figures_and_murad_compare(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from murad import figures, metrics
    from murad.cli import main
    from murad.jobs.report import tables

    specificity = metrics.Metric(
        "specificity",
        "Specificity",
        lambda label, pred, prob: float(((pred == 0) & (label == 0)).sum() / max(1, (label == 0).sum())),
        lambda c: metrics._ratio(c.tn, c.tn + c.fp, 0.0),
    )
    monkeypatch.setattr(metrics, "METRIC_DEFINITIONS", [*metrics.METRIC_DEFINITIONS, specificity])
    rng = np.random.default_rng(0)
    label = rng.integers(0, 2, 60)
    studies = {}
    for name, noise in (("densenet121", 0.6), ("resnet50", 0.9)):
        studies[name] = tmp_path / f"{name}_studies.csv"
        prob = np.clip(label * 0.4 + rng.random(60) * noise, 0, 1)
        pd.DataFrame(
            {"study": [f"s{i}" for i in range(60)], "body_part": "wrist", "label": label, "prob": prob}
        ).to_csv(studies[name], index=False)

    main(["compare", str(studies["densenet121"]), str(studies["resnet50"]), "--out", str(tmp_path / "c.csv")])
    compared = pd.read_csv(tmp_path / "c.csv")
    assert "specificity" in set(compared["metric"])

    metrics_csv, meta_json = {}, {}
    for name, path in studies.items():
        metrics_csv[name] = tmp_path / f"{name}.csv"
        main(["metrics", str(path), "--out", str(metrics_csv[name]), "--bootstrap", "50"])
        meta_json[name] = tmp_path / f"{name}.json"
        meta_json[name].write_text('{"parameters": 8000000, "training_seconds": 60.0}')
    assert {"specificity", "specificity_low", "specificity_high"} <= set(pd.read_csv(metrics_csv["densenet121"]))
    split = tmp_path / "split_table2.csv"
    pd.DataFrame([{"body_part": "total", "train_normal_studies": 1, "train_abnormal_studies": 1,
                   "valid_normal_studies": 1, "valid_abnormal_studies": 1, "total_studies": 4,
                   "total_images": 4}]).to_csv(split, index=False)  # fmt: skip
    outputs = {f"table{n}_{ext}": str(tmp_path / f"table{n}.{ext}") for n in (2, 3, 4, 5) for ext in ("csv", "md")}
    outputs |= {f"table{n}_{ext}": str(tmp_path / f"t{n}.{ext}") for n in (2, 3, 4, 5) for ext in ("tex", "html")}
    tables(str(split), {k: str(v) for k, v in metrics_csv.items()}, {k: str(v) for k, v in meta_json.items()}, None,
           outputs)  # fmt: skip
    table3 = pd.read_csv(tmp_path / "table3.csv")
    assert table3["specificity"].notna().all() and table3["paper_specificity"].isna().all()  # not in the paper
    header = next(line for line in (tmp_path / "table3.md").read_text().splitlines() if line.startswith("| group |"))
    assert "| specificity |" in header

    figure = figures.metric_bars(table3)
    assert "Specificity" in [ax.get_title() for ax in figure.axes]
    plt.close(figure)
