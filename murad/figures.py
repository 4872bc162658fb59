"""The report's figures (seaborn/matplotlib, one style, PNG and SVG): what the paper shows and argues in prose.

- ``kappa_heatmap``: Cohen's kappa per body part x model (the paper's Table 4 as a picture).
- ``metric_bars``: accuracy, precision, recall, F1, kappa and AUC per model with 95% bootstrap whiskers.
- ``roc_curves``: study-level ROC curve per model on MURA valid.
- ``learning_curves``: training and tuning loss per epoch.
- ``kappa_tradeoff``: kappa against parameters and training time (the trade-off the paper argues).
- ``confusion_matrices``: study-level confusion matrix per model at the threshold.
- ``differences_from_best``: each model's and ensemble's kappa and AUC difference from the best on the tuning split.
- ``reliability``: reliability diagrams before and after temperature scaling (``murad.calibration``).

Inputs are sorted by model name (ensembles after the models), so the same results give byte-identical files.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, MaxNLocator, NullFormatter, StrMethodFormatter
from sklearn.metrics import confusion_matrix, roc_auc_score, roc_curve

from .calibration import apply_temperature, reliability_table
from .metrics import metric_names, metric_title
from .result_names import ENSEMBLE_PREFIX, GROUPS, model_group, ordered


def _grid(n: int, columns: int, size: tuple[float, float], **kwargs):
    rows = max(1, math.ceil(n / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(size[0] * columns, size[1] * rows), squeeze=False, **kwargs)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return figure, axes.flat


def kappa_heatmap(table3: pd.DataFrame, table4: pd.DataFrame):
    """Table 4's kappas (body part x model) with Table 3's overall kappa as the last row."""
    names = list(table3["model"])
    kappa = table4.set_index("body_part")[names].astype(float)
    kappa.loc["overall"] = table3.set_index("model")["kappa"][names]
    width = max(5.0, 1.0 + 0.55 * len(names))  # at least the title's width, clear of the colour bar's labels
    figure, ax = plt.subplots(figsize=(width, 0.45 * len(kappa) + 2.2))
    sns.heatmap(
        kappa,
        annot=True,
        fmt=".2f",
        cmap="viridis",
        vmin=min(0.0, np.nanmin(kappa.to_numpy(float), initial=0)),
        vmax=1.0,
        cbar_kws={"label": "Cohen's kappa"},
        annot_kws={"fontsize": 7},
        ax=ax,
    )
    ax.set(xlabel="", ylabel="", title="Study-level kappa on MURA valid per body part")
    groups = [model_group(name) for name in names]
    for column in range(1, len(names)):  # a white line between the groups (the paper's models, the modern, ensembles)
        if groups[column] != groups[column - 1]:
            ax.axvline(column, color="white", linewidth=3)
    ax.tick_params(axis="x", labelrotation=90)
    ax.tick_params(axis="y", labelrotation=0)  # body parts across: down the side, "shoulder" ran into "humerus"
    return figure


def metric_bars(table3: pd.DataFrame):
    """Table 3's overall metrics and AUC, with their bootstrap CIs."""
    names = list(table3["model"])
    overall = table3.set_index("model")
    bar_metrics = metric_names()
    figure, axes = _grid(len(bar_metrics), 3, (4.2, 0.22 * len(names) + 1.2), sharey=True)
    colours = dict(zip(GROUPS, sns.color_palette(n_colors=len(GROUPS)), strict=True))
    groups = [model_group(name) for name in names]
    for ax, metric in zip(axes, bar_metrics, strict=False):
        values = overall[metric].to_numpy(float)
        low = values - overall[f"{metric}_low"].to_numpy(float)
        high = overall[f"{metric}_high"].to_numpy(float) - values
        y = np.arange(len(names))
        ax.barh(
            y,
            values,
            xerr=np.vstack([low, high]),
            color=[colours[group] for group in groups],
            error_kw={"elinewidth": 0.8, "capsize": 2},
        )
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        ax.set(xlim=(min(0.0, np.nanmin(values - low, initial=0)), 1.0), title=metric_title(metric))
    shown = [group for group in GROUPS if group in groups]
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[group]) for group in shown]
    figure.suptitle("Overall study-level metrics on MURA valid (bars: point estimate, whiskers: 95% bootstrap CI)")
    legend_inches = 0.4  # the groups' legend in a strip of its own below the panels
    figure.tight_layout(rect=(0, legend_inches / figure.get_figheight(), 1, 1))
    figure.legend(handles, shown, loc="lower center", ncol=len(shown), fontsize=8, frameon=False)
    return figure


def roc_curves(studies: dict[str, pd.DataFrame]):
    names = ordered(studies)
    figure, ax = plt.subplots(figsize=(6.5, 6))
    palette = sns.color_palette("husl", len(names))
    for colour, name in zip(palette, names, strict=True):
        table = studies[name]
        if table["label"].nunique() < 2:
            continue
        fpr, tpr, _ = roc_curve(table["label"], table["prob"])
        auc = roc_auc_score(table["label"], table["prob"])
        ax.plot(
            fpr,
            tpr,
            color=colour,
            linewidth=2.0 if name.startswith(ENSEMBLE_PREFIX) else 1.0,
            linestyle="--" if name.startswith(ENSEMBLE_PREFIX) else "-",
            label=f"{name} ({auc:.3f})",
        )
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":")
    ax.set(
        xlabel="false positive rate",
        ylabel="true positive rate",
        xlim=(0, 1),
        ylim=(0, 1.01),
        title="Study-level ROC on MURA valid (AUC)",
    )
    ax.legend(fontsize=6, loc="lower right")
    return figure


def small_multiples(frames: dict[str, pd.DataFrame], draw, size: tuple[float, float], xlabel: str, ylabel: str):
    """One small panel per model (up to six to a row), each drawn by ``draw(ax, frame)`` and titled with the name."""
    names = ordered(frames)
    figure, axes = _grid(len(names), min(6, max(1, len(names))), size, layout="constrained")  # room for sup-labels
    for ax, name in zip(axes, names, strict=False):
        draw(ax, frames[name])
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=6)
    figure.supxlabel(xlabel)
    figure.supylabel(ylabel)
    return figure, axes


def learning_curves(histories: dict[str, pd.DataFrame]):
    def draw(ax, history):
        ax.plot(history["epoch"], history["train_loss"], marker="o", markersize=3, label="train")
        ax.plot(history["epoch"], history["tune_loss"], marker="s", markersize=3, label="tuning")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # whole epochs, as many as fit

    figure, axes = small_multiples(histories, draw, (2.4, 2.0), "epoch", "loss (BCE)")
    axes[0].legend(fontsize=6)
    return figure


def kappa_tradeoff(table3: pd.DataFrame):
    rows = table3[~table3["model"].str.startswith(ENSEMBLE_PREFIX)].sort_values("model")
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    one_class = rows["one_class"].astype(bool) if "one_class" in rows else pd.Series(False, index=rows.index)
    for ax, column, label in (
        (axes[0], "params_millions", "parameters (millions)"),
        (axes[1], "training_minutes", "training time (minutes)"),
    ):
        for chosen, style in ((~one_class, {}), (one_class, {"markerfacecolor": "white", "color": "grey"})):
            part = rows[chosen]
            ax.errorbar(
                part[column],
                part["kappa"],
                yerr=[part["kappa"] - part["kappa_low"], part["kappa_high"] - part["kappa"]],
                fmt="o",
                markersize=4,
                elinewidth=0.6,
                capsize=2,
                **style,
            )
        ax.set(xlabel=label, xscale="log")
        # Plain numbers, at 1, 2 and 5 times a power of ten where the axis spans few decades; minor ticks unlabelled.
        low, high = ax.get_xlim()
        ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5) if math.log10(high / low) < 3 else (1,)))
        ax.xaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    axes[0].set_ylabel("Cohen's kappa on MURA valid (95% CI)")
    title = "Is a bigger or longer-trained model better? Kappa against size and training time"
    if one_class.any():  # in plain sight: their kappa of 0 is too little training, not the architecture
        title += "\nhollow grey: calls every MURA valid study the same class (kappa 0 by construction)"
    figure.suptitle(title)
    figure.tight_layout()
    for ax, column in ((axes[0], "params_millions"), (axes[1], "training_minutes")):
        _label_points(ax, rows["model"], rows[column], rows["kappa"])
    return figure


def _label_points(ax, names, xs, ys, fontsize: float = 6) -> None:
    """Name each point, inside the axes: a label that would cover an earlier one moves down a line at a time until it
    is clear of all (up instead, once down would leave the axes), and one that would leave the axes on the right sits
    left of its point.

    Call after the axes' scale, limits and layout are final: the labels' boxes are measured as drawn.
    """
    renderer = ax.figure.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    space = renderer.points_to_pixels(fontsize / 2)  # half an em between labels side by side
    placed = []

    def clear(box) -> bool:
        box_spaced = box.padded(space, 0)
        return inside.y0 <= box.y0 and box.y1 <= inside.y1 and not any(box_spaced.overlaps(b) for b in placed)

    for x, y, name in sorted(zip(xs, ys, names, strict=True)):
        label = ax.annotate(name, (x, y), fontsize=fontsize, xytext=(3, 3), textcoords="offset points")
        if label.get_window_extent(renderer).x1 > inside.x1:
            label.set(x=-3, horizontalalignment="right")
        lines = 2 * len(placed) + 1  # each earlier label blocks at most two lines
        for shift in itertools.chain(range(0, -lines, -1), range(1, lines)):
            label.set(y=3 + shift * (fontsize + 1))
            if clear(label.get_window_extent(renderer)):
                break
        placed.append(label.get_window_extent(renderer))


def confusion_matrices(studies: dict[str, pd.DataFrame]):
    def draw(ax, table):
        matrix = confusion_matrix(table["label"], table["pred"], labels=[0, 1])
        sns.heatmap(
            matrix,
            annot=True,
            fmt="d",
            cbar=False,
            cmap="Blues",
            ax=ax,
            annot_kws={"fontsize": 8},
            xticklabels=["normal", "abnormal"],
            yticklabels=["normal", "abnormal"],
        )

    return small_multiples(studies, draw, (2.1, 2.0), "predicted", "true")[0]


def differences_from_best(table3: pd.DataFrame):
    """Every other model's and ensemble's kappa and AUC minus those of the model ranked best on the tuning split, on
    MURA valid, with paired 95% intervals; filled where the difference holds after Holm's adjustment."""
    if "delta_kappa" not in table3 or table3["delta_kappa"].isna().all():
        figure, ax = plt.subplots(figsize=(6, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, "fewer than two models: nothing to compare", ha="center", va="center", fontsize=8)
        return figure
    best = table3.loc[table3["best_on_tune"].astype(bool), "model"].iloc[0]
    rows = table3[table3["delta_kappa"].notna()].reset_index(drop=True)
    figure, axes = plt.subplots(1, 2, figsize=(10, 0.25 * len(rows) + 1.8), sharey=True)
    y = np.arange(len(rows))
    for ax, metric in zip(axes, ("kappa", "auc"), strict=True):
        delta = rows[f"delta_{metric}"]
        holds = (rows[f"p_{metric}_holm"] < 0.05).to_numpy()
        for chosen, face in ((holds, None), (~holds, "white")):
            ax.errorbar(
                delta[chosen],
                y[chosen],
                xerr=[(delta - rows[f"delta_{metric}_low"])[chosen], (rows[f"delta_{metric}_high"] - delta)[chosen]],
                fmt="o",
                markersize=4,
                elinewidth=0.8,
                capsize=2,
                color="C0",
                markerfacecolor=face,
            )
        ax.axvline(0, color="grey", linewidth=0.8)
        ax.set(xlabel=f"{metric} difference from {best}")
    axes[0].set_yticks(y, rows["model"], fontsize=7)
    axes[0].invert_yaxis()
    figure.suptitle(
        f"Each model and ensemble against {best}, the best on the tuning split, on MURA valid (95% paired CI)\n"
        "filled: the difference holds after Holm's adjustment (p < 0.05); hollow: not told apart",
        fontsize=9,
    )
    figure.tight_layout()
    return figure


def reliability_figure(
    valid_tables: dict[str, pd.DataFrame], temperatures: dict[str, float] | None = None, bins: int = 10
):
    """Reliability diagrams of each model's valid studies (``label``, ``prob``), one panel per model: observed
    abnormal share against mean predicted probability per non-empty bin, before and, when ``temperatures`` are
    given, after scaling with each model's temperature; the dotted diagonal is perfect calibration."""

    def draw(ax, item):
        name, table = item
        label, prob = table["label"].to_numpy(float), table["prob"].to_numpy(float)
        curves = [("before", prob)]
        if temperatures is not None:
            curves.append((f"after, T={temperatures[name]:.2f}", apply_temperature(prob, temperatures[name])))
        ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":")
        for (text, values), marker in zip(curves, ("o", "s"), strict=False):
            rows = reliability_table(label, values, bins).query("count > 0")
            ax.plot(rows["mean_prob"], rows["observed"], marker=marker, markersize=3, linewidth=1, label=text)
        ax.set(xlim=(-0.03, 1.03), ylim=(-0.03, 1.03), aspect="equal")  # markers at 0 and 1 drawn whole
        if temperatures is not None:
            ax.legend(fontsize=5, loc="upper left")

    items = {name: (name, table) for name, table in valid_tables.items()}
    figure, _ = small_multiples(items, draw, (2.2, 2.2), "mean predicted probability", "observed abnormal share")
    figure.suptitle(f"Study-level reliability on MURA valid\n({bins} equal-width bins; dotted: perfect calibration)")
    return figure


def figure_drawers(
    studies: dict[str, pd.DataFrame],
    histories: dict[str, pd.DataFrame],
    table3: pd.DataFrame,
    table4: pd.DataFrame,
    table5: pd.DataFrame,
) -> dict[str, Callable[[], Figure]]:
    """Every figure of the report by name (``murad.result_names.FIGURES``), each drawn when called; the metrics come
    from Tables 3 and 4, each model's temperature from Table 5."""
    temperatures = dict(zip(table5["model"], table5["temperature"], strict=True)) if len(table5) else {}
    return {
        "kappa_heatmap": lambda: kappa_heatmap(table3, table4),
        "metric_bars": lambda: metric_bars(table3),
        "roc_curves": lambda: roc_curves(studies),
        "learning_curves": lambda: learning_curves(histories),
        "kappa_tradeoff": lambda: kappa_tradeoff(table3),
        "confusion_matrices": lambda: confusion_matrices(studies),
        "differences_from_best": lambda: differences_from_best(table3),
        "reliability": lambda: reliability_figure({m: studies[m] for m in temperatures}, temperatures),
    }
