"""Figures that must stay readable when the demo's models crowd together."""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from murad import figures
from murad.figures import kappa_tradeoff
from murad.metrics import metric_names
from murad.plotting import apply_style, overlapping_texts
from murad.result_names import BEST_PER_BODY_PART, FIGURES, ordered, top_k_name

# The default demo's results: the paper's 18 torchvision models (parameters in millions, demo training minutes) and
# both ensembles; most of the demo's models train for a few batches only and end at kappa 0.
DEMO_MODELS = {
    "densenet121": (7.0, 8.1),
    "densenet161": (26.5, 0.9),
    "densenet169": (12.5, 0.8),
    "densenet201": (18.1, 1.1),
    "inception_v3": (24.4, 1.2),
    "mobilenet_v2": (2.2, 1.4),
    "resnet34": (21.3, 0.6),
    "resnet50": (23.5, 0.7),
    "resnet101": (42.5, 0.9),
    "resnet152": (58.1, 0.8),
    "resnext50_32x4d": (23.0, 0.7),
    "resnext101_32x8d": (86.7, 0.9),
    "vgg11_bn": (128.8, 0.3),
    "vgg13_bn": (129.0, 0.35),
    "vgg16": (134.3, 0.4),
    "vgg16_bn": (134.3, 0.4),
    "vgg19": (139.6, 0.45),
    "vgg19_bn": (139.6, 0.45),
}
BODY_PARTS = ["elbow", "finger", "forearm", "hand", "humerus", "shoulder", "wrist"]


def _results(models: dict[str, tuple[float, float]], trained: set[str], epochs: int) -> dict:
    """What the figures job reads, as frames: an untrained model (not in ``trained``) ran one epoch, calls every study
    normal at probability about 0.5 and has kappa 0 (as most of the demo's do); a trained one ran ``epochs``."""
    rng = np.random.default_rng(0)
    names = ordered(models)
    studies, histories, rows = {}, {}, []
    for name in names:
        label = rng.integers(0, 2, 80)
        learnt = name in trained or name.startswith("ensemble_")
        prob = np.clip(0.5 + (0.6 * label - 0.3 + rng.normal(0, 0.2, 80) if learnt else rng.normal(0, 0.01, 80)), 0, 1)
        studies[name] = pd.DataFrame(
            {"study": range(80), "body_part": rng.choice(BODY_PARTS, 80), "label": label, "prob": prob}
        ).assign(pred=lambda t: (t["prob"] > 0.5).astype(int))
        run = np.arange(1, (epochs if learnt else 1) + 1)
        histories[name] = pd.DataFrame({"epoch": run, "train_loss": 0.7 / run, "tune_loss": 0.75 / run})
        params, minutes = models[name] or (float("nan"), float("nan"))  # an ensemble has neither
        row = {"model": name, "params_millions": params, "training_minutes": minutes, "one_class": not learnt}
        for metric in metric_names():  # calling every study normal gives 0 (a CI of 0 to 0) but for these two
            untrained = {"accuracy": (0.56, 0.05), "auc": (0.5, 0.06)}.get(metric, (0.0, 0.0))
            value, spread = (0.8, 0.05) if learnt else untrained
            row |= {metric: value, f"{metric}_low": value - spread, f"{metric}_high": value + spread}
        rows.append(row)
    table3 = pd.DataFrame(rows)
    table3["best_on_tune"] = table3["model"] == "densenet121"  # and every other one against it, as Table 3 has them
    for metric in ("kappa", "auc"):
        delta = np.where(table3["best_on_tune"], np.nan, rng.uniform(-0.8, 0.05, len(table3)))
        table3[f"delta_{metric}"] = delta
        table3[f"delta_{metric}_low"], table3[f"delta_{metric}_high"] = delta - 0.1, delta + 0.1
        table3[f"p_{metric}_holm"] = np.where(delta > -0.1, 0.5, 0.001)
    table4 = pd.DataFrame({"body_part": BODY_PARTS} | {n: rng.uniform(-0.1, 0.8, len(BODY_PARTS)) for n in names})
    return {"studies": studies, "histories": histories, "table3": table3, "table4": table4}


RESULTS = {  # two models trained as config.paper.yaml does (100 epochs), and the default demo
    "2_models": _results({m: DEMO_MODELS[m] for m in ("densenet121", "vgg19_bn")}, {"densenet121"}, epochs=100),
    "20_models": _results(DEMO_MODELS | dict.fromkeys([BEST_PER_BODY_PART, top_k_name(3)]), {"densenet121"}, epochs=9),
}

# Every figure the workflow draws, as (name, builder of the figure from RESULTS' inputs).
FIGURE_CASES = [
    ("kappa_heatmap", lambda r: figures.kappa_heatmap(r["table3"], r["table4"])),
    ("metric_bars", lambda r: figures.metric_bars(r["table3"])),
    ("roc_curves", lambda r: figures.roc_curves(r["studies"])),
    ("learning_curves", lambda r: figures.learning_curves(r["histories"])),
    ("kappa_tradeoff", lambda r: figures.kappa_tradeoff(r["table3"])),
    ("confusion_matrices", lambda r: figures.confusion_matrices(r["studies"])),
    ("differences_from_best", lambda r: figures.differences_from_best(r["table3"])),
    ("reliability", lambda r: figures.reliability_figure(r["studies"], dict.fromkeys(r["studies"], 1.5))),
]


def test_every_figure_of_the_workflow_is_checked():
    assert set(FIGURES) <= {name for name, _ in FIGURE_CASES}


@pytest.mark.parametrize("results", RESULTS, ids=str)
@pytest.mark.parametrize(("name", "build"), FIGURE_CASES, ids=[name for name, _ in FIGURE_CASES])
def test_no_two_texts_of_a_figure_overlap(name, build, results):
    apply_style()
    figure = build(RESULTS[results])
    try:
        assert overlapping_texts(figure) == []
    finally:
        plt.close(figure)


def test_overlapping_texts_finds_texts_drawn_on_top_of_or_right_after_each_other():
    figure, ax = plt.subplots()
    ax.set_title("a title")
    ax.text(0.5, 0.5, "first label", transform=ax.transAxes)
    ax.text(0.52, 0.5, "second label", transform=ax.transAxes)
    ax.text(0.5, 0.2, "ends here", transform=ax.transAxes, horizontalalignment="right")
    ax.text(0.5, 0.2, "starts here", transform=ax.transAxes)  # boxes touch: read as one line
    try:
        assert overlapping_texts(figure) == [("first label", "second label"), ("ends here", "starts here")]
        assert overlapping_texts(figure, gap=0) == [("first label", "second label")]
    finally:
        plt.close(figure)


def test_overlapping_texts_leaves_out_tick_labels_outside_the_view():
    figure, ax = plt.subplots()
    ax.set_xticks([0.0, 0.5, 1.0], ["zero", "half", "one"])
    ax.set_xlim(0.4, 0.6)  # "zero" and "one" are not drawn, though their boxes sit where this text is:
    ax.text(1.0, -0.04, "one", transform=ax.get_xaxis_transform(), verticalalignment="top")
    try:
        assert [t.get_text() for t in ax.get_xticklabels()] == ["zero", "half", "one"]
        assert overlapping_texts(figure) == []
    finally:
        plt.close(figure)


def test_kappa_tradeoff_labels_of_crowded_points_do_not_cover_each_other():
    # What an untrained demo gives: many models at kappa 0 with similar sizes and times, one model far right.
    names = [f"model_{i:02d}" for i in range(14)] + ["ensemble_top3_mean"]
    table3 = pd.DataFrame(
        {
            "model": names,
            "kappa": [0.0] * 12 + [-0.05, 0.7, 0.4],
            "kappa_low": [0.0] * 12 + [-0.2, 0.6, 0.3],
            "kappa_high": [0.0] * 12 + [0.1, 0.8, 0.5],
            "params_millions": [20 + i for i in range(12)] + [21.0, 140.0, 30.0],
            "training_minutes": [0.3 + 0.01 * i for i in range(12)] + [0.31, 9.0, 10.0],
        }
    )
    figure = kappa_tradeoff(table3)
    renderer = figure.canvas.get_renderer()
    for ax in figure.axes:
        labels = {t.get_text(): t.get_window_extent(renderer) for t in ax.texts}
        assert sorted(labels) == sorted(names[:-1])  # every model named, ensembles left out
        for (a, box_a), (b, box_b) in itertools.combinations(labels.items(), 2):
            assert not box_a.overlaps(box_b), (a, b)
        right = ax.get_window_extent(renderer).x1
        assert all(box.x1 <= right for box in labels.values())
    plt.close(figure)
