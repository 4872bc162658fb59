"""Every model's localization (:func:`.localization.localization_table`) as Markdown and as a figure, beside the
chance and centre baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .localization import ALL_KINDS


def _pivot(table: pd.DataFrame, value: str, chance: str, centre: str) -> pd.DataFrame:
    """Models x kinds of one score, with the chance and centre baselines as two more rows."""
    kinds = list(dict.fromkeys(table["kind"]))
    grid = table.pivot(index="model", columns="kind", values=value)[kinds]
    first = table[table["model"] == table["model"].iloc[0]].set_index("kind")
    grid.loc["chance"] = first[chance][kinds]
    grid.loc["centre baseline"] = first[centre][kinds]
    return grid


def localization_markdown(
    table: pd.DataFrame, note: str | None, tolerance: float, boxes: str = "the synthetic lesion boxes of MURA valid"
) -> str:
    """The localization table as Markdown, one grid per score; ``boxes`` says whose boxes (the title)."""
    lines = [f"# CAM localization on {boxes}", ""]
    if note:
        return "\n".join([*lines, note, ""])
    lines += [
        "Pointing game: a hit when the map's maximum lies inside the ground-truth box or within "
        f"{tolerance:g} x the image's longer side of it. "
        "Energy share: the share of the min-max normalised map inside the box. "
        "Chance: box area / image area (energy) and the share of pixels within the tolerance of the box (pointing). "
        "Centre baseline: a Gaussian map peaking at the image centre, scored the same way. "
        "Means over the scored boxes (each image with a box; an image of an external set with several boxes counts "
        "once per box). Flat maps: the share of images "
        "whose map has no contrast (Grad-CAM is all zero when no location raises the logit); they count as misses.",
        "",
    ]
    methods = table.drop_duplicates("model").set_index("model")[["method", "layer"]]
    images = table[table["model"] == table["model"].iloc[0]].set_index("kind")["images"]
    flat = table[table["kind"] == ALL_KINDS].set_index("model")["flat"]
    for value, chance, centre, title in (
        ("pointing", "chance_pointing", "centre_pointing", "Pointing game"),
        ("energy", "chance", "centre_energy", "Energy share inside the box"),
    ):
        grid = _pivot(table, value, chance, centre)
        header = ["model", "method", "layer", *[f"{k} (n={images[k]})" for k in grid.columns], "flat maps"]
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        for name, row in grid.iterrows():
            method = list(methods.loc[name]) if name in methods.index else ["", ""]
            cells = [f"{v:.3f}" for v in row.to_numpy(float)]
            share = f"{flat[name]:.0%}" if name in flat.index else ""
            lines.append("| " + " | ".join([str(name), *method, *cells, share]) + " |")
        lines.append("")
    return "\n".join(lines)


SCORES = (  # the score, its chance and centre baselines, and its name in the figure
    ("pointing", "chance_pointing", "centre_pointing", "pointing game (peak in box)"),
    ("energy", "chance", "centre_energy", "energy share inside the box"),
)


def localization_figure(table: pd.DataFrame, note: str | None = None):
    """Pointing game and energy share per model (bars, CAM vs Grad-CAM) with the chance and centre baselines as
    lines; below, both per abnormality kind as heat maps with the baselines as the last rows."""
    import matplotlib.pyplot as plt

    if note or table.empty:
        figure, ax = plt.subplots(figsize=(6, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, note or "no scored images", ha="center", va="center", fontsize=8, wrap=True)
        return figure
    models = table["model"].nunique()
    height = 0.22 * models + 1.3
    figure, axes = plt.subplots(
        2, 2, figsize=(11, height + 0.3 * models + 2.4), gridspec_kw={"height_ratios": [height, 0.3 * models + 1.6]}
    )
    for column, (value, chance, centre, title) in enumerate(SCORES):
        grid = _pivot(table, value, chance, centre)
        top = 1.0 if value == "pointing" else min(1.0, max(0.2, float(np.nanmax(grid.to_numpy(float))) * 1.25))
        _bars(axes[0, column], table, (value, chance, centre, title), top, legend=column == 0)
        _kinds_heatmap(axes[1, column], grid, title, top)
    figure.tight_layout()
    return figure


def _bars(ax, table: pd.DataFrame, score: tuple[str, str, str, str], top: float, legend: bool) -> None:
    """One score over all scored images per model, coloured by method, with the chance and centre baselines as
    lines and the share of flat maps beside the bars; the model names and the legend where ``legend``."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    value, chance, centre, title = score
    overall = table[table["kind"] == ALL_KINDS].reset_index(drop=True)
    colours = dict(zip(["CAM", "Grad-CAM"], sns.color_palette(n_colors=2), strict=True))
    y = np.arange(len(overall))
    ax.barh(y, overall[value], color=[colours.get(m, "grey") for m in overall["method"]])
    ax.axvline(overall[chance].iloc[0], color="black", linestyle="--", linewidth=1, label="chance")
    ax.axvline(overall[centre].iloc[0], color="grey", linestyle=":", linewidth=1.5, label="centre baseline")
    for row in overall[overall["flat"] > 0].itertuples():
        share = f"{row.flat:.0%} flat maps"
        ax.text(getattr(row, value) + top * 0.01, row.Index, share, ha="left", va="center", fontsize=6)
    ax.set_yticks(y, list(overall["model"]) if legend else [""] * len(overall), fontsize=7)
    ax.invert_yaxis()
    ax.set(xlim=(0, top), xlabel=title, title=f"{title}, n = {int(overall['images'].iloc[0])} images")
    if legend:
        methods = sorted(overall["method"].unique())
        handles = [plt.Rectangle((0, 0), 1, 1, color=colours.get(m, "grey")) for m in methods]
        lines, labels = ax.get_legend_handles_labels()
        ax.legend([*handles, *lines], [*methods, *labels], fontsize=6, loc="lower right")


def _kinds_heatmap(ax, grid: pd.DataFrame, title: str, top: float) -> None:
    """One score per model and abnormality kind, the baselines as the last rows."""
    import seaborn as sns

    annotations = {"fontsize": 6}
    sns.heatmap(
        grid.astype(float),
        annot=True,
        fmt=".2f",
        vmin=0,
        vmax=top,
        cmap="viridis",
        ax=ax,
        annot_kws=annotations,
        cbar_kws={"label": title},
    )
    ax.set(xlabel="abnormality kind", ylabel="", title=f"{title} per abnormality kind")
    ax.tick_params(axis="y", labelsize=7)
