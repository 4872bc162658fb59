"""The paper's tables from per-model metrics: paper values beside ours, best per row, stable bytes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from murad.jobs.report import tables
from murad.metrics import study_metrics
from murad.result_names import TABLE_FORMATS, TABLES


def fake_results(tmp_path, models):
    rng = np.random.default_rng(0)
    parts = ["elbow", "finger", "forearm", "hand", "humerus", "shoulder", "wrist"]
    metrics, meta = {}, {}
    for i, model in enumerate(models):
        label = rng.integers(0, 2, 140)
        prob = np.clip(label * (0.2 + 0.1 * i) + rng.random(140) * 0.7, 0, 1)
        studies = pd.DataFrame(
            {"study": [f"s{j}" for j in range(140)], "body_part": np.repeat(parts, 20), "label": label, "prob": prob}
        )
        metrics[model] = tmp_path / f"{model}.csv"
        study_metrics(studies, repetitions=50).to_csv(metrics[model], index=False)
        meta[model] = tmp_path / f"{model}.json"
        meta[model].write_text(json.dumps({"parameters": 7_000_000 + i, "training_seconds": 120.0 * (i + 1)}))
    return metrics, meta


def table_files(folder) -> dict[str, str]:
    return {f"table{n}_{ext}": str(folder / f"table{n}.{ext}") for n in TABLES for ext in TABLE_FORMATS}


def split_table2(tmp_path):
    split = pd.DataFrame(
        [
            {
                "body_part": p,
                **{f"{s}_{n}_studies": 3 for s in ("train", "valid") for n in ("normal", "abnormal")},
                "total_studies": 12,
                "total_images": 30,
            }
            for p in ["elbow", "finger", "forearm", "hand", "humerus", "shoulder", "wrist", "total"]
        ]
    )
    split.to_csv(tmp_path / "split_table2.csv", index=False)
    return tmp_path / "split_table2.csv"


def test_tables_carry_the_paper_values_and_mark_the_best(tmp_path):
    split_table2(tmp_path)
    metrics, meta = fake_results(tmp_path, ["resnet18", "densenet121"])
    tables(
        str(tmp_path / "split_table2.csv"),
        {k: str(v) for k, v in metrics.items()},
        {k: str(v) for k, v in meta.items()},
        None,
        table_files(tmp_path / "tables"),
    )
    t3 = pd.read_csv(tmp_path / "tables/table3.csv").set_index("model")
    assert list(t3.index) == ["densenet121", "resnet18"]
    assert t3.loc["densenet121", "paper_kappa"] == 0.699 and np.isnan(t3.loc["resnet18", "paper_kappa"])
    assert t3.loc["densenet121", "params_millions"] == 7.0 and t3.loc["densenet121", "training_minutes"] == 4.0
    t4 = pd.read_csv(tmp_path / "tables/table4.csv").set_index("body_part")
    kappas = t4[["densenet121", "resnet18"]]
    assert (t4["best_model"] == kappas.idxmax(axis=1)).all()
    assert t4.loc["wrist", "paper_vgg19_bn"] == 0.768 and t4.loc["wrist", "paper_best_model"] == "vgg19_bn"
    t2 = pd.read_csv(tmp_path / "tables/table2.csv").set_index("body_part")
    assert (
        t2.loc["wrist", "paper_train_normal_studies"] == 2134 and t2.loc["total", "paper_valid_abnormal_studies"] == 538
    )
    markdown = (tmp_path / "tables/table4.md").read_text()
    assert "| body part |" in markdown and "*" in markdown
    assert r"\begin{tabular}" in (tmp_path / "tables/table3.tex").read_text()
    first = {p.name: p.read_bytes() for p in (tmp_path / "tables").iterdir()}
    tables(
        str(tmp_path / "split_table2.csv"),
        {k: str(v) for k, v in reversed(list(metrics.items()))},
        {k: str(v) for k, v in meta.items()},
        None,
        table_files(tmp_path / "tables"),
    )
    assert first == {p.name: p.read_bytes() for p in (tmp_path / "tables").iterdir()}


def test_a_model_that_calls_every_study_one_class_is_marked_and_images_seen_are_shown(tmp_path):
    metrics, meta = fake_results(tmp_path, ["densenet121", "resnet34"])
    studies = pd.DataFrame({"study": [f"s{j}" for j in range(20)], "body_part": "hand", "label": [0, 1] * 10})
    study_metrics(studies.assign(prob=0.3), repetitions=20).to_csv(metrics["resnet34"], index=False)  # all normal
    for model, seen in (("densenet121", 8325), ("resnet34", 320)):
        meta[model].write_text(json.dumps({"parameters": 1e6, "training_seconds": 60.0, "images_seen": seen}))
    tables(str(split_table2(tmp_path)), metrics, meta, None, table_files(tmp_path / "tables"))
    t3 = pd.read_csv(tmp_path / "tables/table3.csv").set_index("model")
    assert t3["one_class"].to_dict() == {"densenet121": False, "resnet34": True}
    assert t3["images_seen"].to_dict() == {"densenet121": 8325, "resnet34": 320}
    markdown = (tmp_path / "tables/table3.md").read_text()
    assert "| resnet34 † |" in markdown and "| densenet121 |" in markdown
    assert "†: calls every study the same class" in markdown.splitlines()[0]


def test_further_seeds_are_rows_of_their_own_and_give_the_models_mean_and_sd(tmp_path):
    runs = ["densenet121", "densenet121_seed1", "densenet121_seed2", "resnet34"]
    metrics, meta = fake_results(tmp_path, runs)
    for seed, run in enumerate(runs[:3]):
        meta[run].write_text(json.dumps({"parameters": 8e6, "training_seconds": 60.0, "seed": seed}))
    tables(str(split_table2(tmp_path)), metrics, meta, None, table_files(tmp_path / "tables"))
    t3 = pd.read_csv(tmp_path / "tables/table3.csv").set_index("model")
    assert list(t3.index) == runs
    kappas = t3.loc[runs[:3], "kappa"]
    assert t3.loc["densenet121", "seeds"] == 3 and t3.loc["resnet34", "seeds"] == 1
    assert np.isclose(t3.loc["densenet121", "kappa_seeds_mean"], kappas.mean())
    assert np.isclose(t3.loc["densenet121", "kappa_seeds_sd"], kappas.std(ddof=1))
    assert t3.loc["densenet121_seed1", ["seeds", "kappa_seeds_mean"]].isna().all()
    assert np.isnan(t3.loc["resnet34", "kappa_seeds_sd"])
    assert "(3 seeds)" in (tmp_path / "tables/table3.md").read_text()
    t4 = pd.read_csv(tmp_path / "tables/table4.csv")
    assert not any("_seed" in column for column in t4.columns)  # per body part: the first seed's runs


def test_table3_shows_each_difference_from_the_best_on_tune_and_marks_the_ties(tmp_path):
    metrics, meta = fake_results(tmp_path, ["densenet121", "resnet18", "resnet34"])
    rows = [
        {"name": name, "best": "densenet121", "scope": "overall", "metric": metric, "a": 0.5, "b": 0.6,
         "difference": -0.1, "difference_low": -0.2, "difference_high": low_high, "p_value": p, "p_holm": p}
        for name, p, low_high in (("resnet18", 0.4, 0.05), ("resnet34", 0.001, -0.05))
        for metric in ("kappa", "auc")
    ]  # fmt: skip
    pd.DataFrame(rows).to_csv(tmp_path / "vs_best.csv", index=False)
    files = table_files(tmp_path / "tables")
    tables(str(split_table2(tmp_path)), metrics, meta, None, files, str(tmp_path / "vs_best.csv"))
    t3 = pd.read_csv(tmp_path / "tables/table3.csv").set_index("model")
    assert t3["best_on_tune"].to_dict() == {"densenet121": True, "resnet18": False, "resnet34": False}
    assert t3["tied_with_best"].to_dict() == {"densenet121": False, "resnet18": True, "resnet34": False}
    assert t3.loc["resnet34", "delta_kappa"] == -0.1 and t3.loc["resnet34", "p_auc_holm"] == 0.001
    markdown = (tmp_path / "tables/table3.md").read_text()
    assert "| densenet121 (best on tune) |" in markdown and "| resnet18 ≈ |" in markdown
    assert "-0.100 [-0.200, +0.050] (0.400)" in markdown


def test_table3_groups_the_papers_models_and_the_modern_ones_with_the_papers_values_beside_its_own_only(tmp_path):
    models = ["vit_b_16", "resnet50", "convnext_tiny", "densenet121", "ensemble_top3_mean"]
    metrics, meta = fake_results(tmp_path, models)
    tables(str(split_table2(tmp_path)), metrics, meta, None, table_files(tmp_path / "tables"))
    t3 = pd.read_csv(tmp_path / "tables/table3.csv")
    assert list(t3["model"]) == ["densenet121", "resnet50", "convnext_tiny", "vit_b_16", "ensemble_top3_mean"]
    assert list(t3["group"]) == ["paper", "paper", "modern", "modern", "ensemble"]
    assert t3.loc[t3["group"] != "paper", "paper_kappa"].isna().all() and t3.loc[:1, "paper_kappa"].notna().all()
    lines = (tmp_path / "tables/table3.md").read_text().splitlines()
    rows = {line.split(" | ")[1]: line for line in lines if line.startswith(("| paper |", "| modern |"))}
    assert rows["densenet121"].startswith("| paper |") and "(0.699)" in rows["densenet121"]
    assert rows["vit_b_16"].startswith("| modern |") and "(" not in rows["vit_b_16"].split(" | ", 2)[2]
