"""The paper's tables reproduced from the workflow's metrics, with the paper's values alongside.

Each table is written three ways: CSV for tools, Markdown for reading, LaTeX for papers. Rows and columns are sorted
so that the same inputs give byte-identical files.
"""

from __future__ import annotations

import json
from html import escape
from importlib import resources
from pathlib import Path

import pandas as pd

from .io import write_csv
from .metrics import metric_names
from .result_names import ENSEMBLE_PREFIX, model_group, ordered, run_model

# Checked by hand (see murad/reference/README.md): 0.884 fits DenseNet-161's other four numbers, 0.844 does not.
ONE_CLASS_MARK = "†"  # Table 3: the model calls every MURA valid study the same class
TIED_MARK = "≈"  # Table 3: not told apart from the model best on the tuning split (kappa and AUC, Holm, 0.05)
PAPER_NOTES = {("densenet161", "precision"): "printed 0.844 contradicts the row's other metrics; 0.884 fits them"}


def paper_table(name: str) -> pd.DataFrame:
    with resources.files("murad.reference").joinpath(f"paper_{name}.csv").open() as handle:
        return pd.read_csv(handle)


def table3(
    metrics: dict[str, pd.DataFrame], meta: dict[str, dict], comparisons: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per model: overall study-level metrics with 95% CIs, parameters, training time; paper values beside."""
    paper = paper_table("table3").set_index("model")
    rows = []
    for model in ordered(metrics):
        overall = metrics[model].set_index("scope").loc["overall"]
        row = {"model": model, "group": model_group(model), "n_studies": int(overall["n_studies"])}
        # A model that calls every study of MURA valid the same class (kappa 0 by construction): with the demo's
        # few training images it learned no contrast yet, which says nothing of its architecture.
        row["one_class"] = bool(overall["n_called_abnormal"] in (0, overall["n_studies"]))
        for metric in metric_names():
            for suffix in ("", "_low", "_high"):
                row[f"{metric}{suffix}"] = overall[f"{metric}{suffix}"]
        info = meta.get(model, {})
        row["seed"] = info.get("seed", float("nan"))
        row["params_millions"] = round(info["parameters"] / 1e6, 2) if "parameters" in info else float("nan")
        row["training_minutes"] = (
            round(info["training_seconds"] / 60, 2) if "training_seconds" in info else float("nan")
        )
        row["images_seen"] = info.get("images_seen", float("nan"))
        for metric in [*metric_names(), "params_millions", "training_time"]:  # where the paper reports it
            known = model in paper.index and metric in paper.columns
            row[f"paper_{metric}"] = paper.loc[model, metric] if known else float("nan")
        row["paper_note"] = "; ".join(n for (m, _), n in PAPER_NOTES.items() if m == model)
        rows.append(row)
    return with_comparisons(with_seed_spread(pd.DataFrame(rows)), comparisons)


def with_comparisons(table: pd.DataFrame, comparisons: pd.DataFrame | None) -> pd.DataFrame:
    """Each row gains its difference from the model ranked best on the tuning split, on MURA valid, for kappa and
    AUC (``delta_<metric>`` with its paired 95% interval and Holm-adjusted p-value, from ``murad.compare``),
    ``best_on_tune``, and ``tied_with_best``: neither difference significant at 0.05 after Holm's adjustment."""
    overall = comparisons[comparisons["scope"] == "overall"] if comparisons is not None else pd.DataFrame()
    best = overall["best"].iloc[0] if len(overall) else None
    table["best_on_tune"] = table["model"] == best
    tied = pd.Series(True, index=table.index)
    for metric in ("kappa", "auc"):
        rows = overall[overall["metric"] == metric].set_index("name") if len(overall) else pd.DataFrame()
        for column, source in (("", "difference"), ("_low", "difference_low"), ("_high", "difference_high")):
            table[f"delta_{metric}{column}"] = table["model"].map(rows[source]) if len(rows) else float("nan")
        table[f"p_{metric}_holm"] = table["model"].map(rows["p_holm"]) if len(rows) else float("nan")
        tied &= table[f"p_{metric}_holm"] >= 0.05
    table["tied_with_best"] = tied
    return table


def with_seed_spread(table: pd.DataFrame) -> pd.DataFrame:
    """Each model's row gains ``seeds`` (its training runs: the model's own and its <model>_seed<k> runs) and, for
    every metric, the mean and sample standard deviation over those runs (``<metric>_seeds_mean``, ``_seeds_sd``;
    the sd is NaN for one run). Seed runs' and ensembles' rows leave them empty."""
    model_of = {name: run_model(name)[0] for name in table["model"]}
    runs = table.assign(base=table["model"].map(model_of)).groupby("base")
    spread = {"seeds": runs["model"].count()}
    for metric in metric_names():
        spread[f"{metric}_seeds_mean"] = runs[metric].mean()
        spread[f"{metric}_seeds_sd"] = runs[metric].std(ddof=1)
    own_run = [run_model(name)[1] is None and not name.startswith(ENSEMBLE_PREFIX) for name in table["model"]]
    for column, values in spread.items():
        table[column] = [
            values[model] if own else float("nan") for model, own in zip(table["model"], own_run, strict=True)
        ]
    return table


def table4(metrics: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Kappa per body part (rows) x model (columns), the best model per row named, the paper's kappas beside."""
    paper = paper_table("table4").set_index("body_part")
    models = [name for name in ordered(metrics) if run_model(name)[1] is None]  # the first seed's runs
    kappa = pd.DataFrame({m: metrics[m].set_index("scope")["kappa"].drop("overall") for m in models})
    kappa = kappa.sort_index()
    table = kappa.copy()
    table.insert(0, "body_part", kappa.index)
    table["best_model"] = [row.idxmax() if row.notna().any() else "" for _, row in kappa.iterrows()]
    for model in paper.columns:
        table[f"paper_{model}"] = paper[model].reindex(kappa.index)
    table["paper_best_model"] = [paper.loc[p].idxmax() if p in paper.index else "" for p in kappa.index]
    return table.reset_index(drop=True)


def number_text(value, digits: int = 3) -> str:
    """A table cell's number: ``digits`` decimals, a dash where there is none."""
    return "–" if pd.isna(value) else f"{value:.{digits}f}"


def table3_display(table: pd.DataFrame) -> pd.DataFrame:
    """Human-readable Table 3: 'ours [95% CI] (paper)' per metric."""

    def mark(r) -> str:
        return (
            r.model
            + f" {ONE_CLASS_MARK}" * bool(r.one_class)
            + " (best on tune)" * r.best_on_tune
            + (f" {TIED_MARK}" * r.tied_with_best)
        )

    def paper(value, digits: int = 3) -> str:  # the paper's value in parentheses, for the paper's models only
        return "" if pd.isna(value) else f" ({number_text(value, digits)})"

    shown = pd.DataFrame({"group": table["group"], "model": [mark(r) for r in table.itertuples()]})
    for metric in metric_names():
        shown[metric] = [
            f"{number_text(r[metric])} [{number_text(r[f'{metric}_low'])}, {number_text(r[f'{metric}_high'])}]"
            + paper(r[f"paper_{metric}"])
            for _, r in table.iterrows()
        ]
    shown["params (M)"] = [
        number_text(r["params_millions"], 1) + paper(r["paper_params_millions"], 1) for _, r in table.iterrows()
    ]
    shown["training (min)"] = [
        number_text(r["training_minutes"], 1) + paper(r["paper_training_time"], 0) for _, r in table.iterrows()
    ]
    if table["best_on_tune"].any():
        for metric in ("kappa", "auc"):
            shown[f"Δ{metric} vs best (Holm p)"] = [
                f"{r[f'delta_{metric}']:+.3f} [{r[f'delta_{metric}_low']:+.3f}, {r[f'delta_{metric}_high']:+.3f}] "
                f"({number_text(r[f'p_{metric}_holm'])})"
                if not pd.isna(r[f"delta_{metric}"])
                else ""
                for _, r in table.iterrows()
            ]
    shown["images seen"] = [number_text(value, 0) for value in table["images_seen"]]
    if (table["seeds"] > 1).any():
        shown["kappa over seeds"] = [
            f"{number_text(r.kappa_seeds_mean)} ± {number_text(r.kappa_seeds_sd)} ({r.seeds:.0f} seeds)"
            if r.seeds > 1
            else ""
            for r in table.itertuples()
        ]
    return shown


def table4_display(table: pd.DataFrame) -> pd.DataFrame:
    """Human-readable Table 4: kappa per body part, the best of each row starred, the paper's in parentheses."""
    models = [
        c
        for c in table.columns
        if c not in ("body_part", "best_model", "paper_best_model") and not c.startswith("paper_")
    ]
    shown = pd.DataFrame({"body part": table["body_part"]})
    for model in models:
        paper = table.get(f"paper_{model}")
        cells = []
        for i, row in table.iterrows():
            cell = number_text(row[model]) + ("*" if row["best_model"] == model else "")
            if paper is not None:
                cell += f" ({number_text(paper.iloc[i])})"
            cells.append(cell)
        shown[model] = cells
    return shown


def to_markdown(shown: pd.DataFrame) -> str:
    header = "| " + " | ".join(shown.columns) + " |"
    rule = "| " + " | ".join("---" for _ in shown.columns) + " |"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def to_latex(shown: pd.DataFrame, caption: str) -> str:
    def escape(text: str) -> str:
        return str(text).replace("_", r"\_").replace("%", r"\%").replace("–", "--").replace("*", r"$^\ast$")

    lines = [
        r"\begin{table}[ht]",
        r"\centering",
        f"\\caption{{{escape(caption)}}}",
        r"\begin{tabular}{l" + "r" * (len(shown.columns) - 1) + "}",
        r"\hline",
        " & ".join(escape(c) for c in shown.columns) + r" \\",
        r"\hline",
    ]
    lines += [" & ".join(escape(v) for v in row) + r" \\" for row in shown.itertuples(index=False)]
    lines += [r"\hline", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


_HTML_STYLE = (
    "body{font-family:sans-serif;font-size:13px;margin:1em}table{border-collapse:collapse}"
    "th,td{border:1px solid #ccc;padding:3px 6px;text-align:right;white-space:nowrap}"
    "th{background:#eee}td:first-child,th:first-child{text-align:left}caption{text-align:left;"
    "font-weight:bold;margin-bottom:.5em}"
)


def to_html(shown: pd.DataFrame, caption: str) -> str:
    """A standalone HTML page of the display form (what the Snakemake report shows)."""
    body = shown.to_html(index=False, escape=True, border=0).replace(
        '<table class="dataframe">', f'<table class="dataframe">\n  <caption>{escape(caption)}</caption>', 1
    )
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{escape(caption)}</title>'
        f"<style>{_HTML_STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def write_table(table: pd.DataFrame, shown: pd.DataFrame, caption: str, paths: dict[str, str | Path]) -> None:
    """One table in every format of ``paths`` (csv: all columns; md, tex, html: the display form)."""
    write_csv(table.round(6), paths["csv"])
    Path(paths["md"]).write_text(f"{caption}\n\n{to_markdown(shown)}")
    Path(paths["tex"]).write_text(to_latex(shown, caption))
    Path(paths["html"]).write_text(to_html(shown, caption))


def load_results(
    metrics_csvs: dict[str, str], meta_jsons: dict[str, str], members_csv: str | None = None
) -> tuple[dict, dict]:
    """Metrics per model and ensemble; meta per model, and per ensemble the sums over its distinct members."""
    metrics = {m: pd.read_csv(p) for m, p in sorted(metrics_csvs.items())}
    meta = {m: json.loads(Path(p).read_text()) for m, p in sorted(meta_jsons.items())}
    if members_csv is not None:
        for ensemble, members in pd.read_csv(members_csv).groupby("ensemble", sort=True):
            parts = [meta[m] for m in sorted(set(members["model"]))]
            sums = ("parameters", "training_seconds", "images_seen")
            meta[ensemble] = {key: sum(part.get(key, float("nan")) for part in parts) for key in sums}
    return metrics, meta


def table2_display(split_table2: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The split stage's Table 2 with the paper's study counts beside (the full CSV, and its display form)."""
    paper = paper_table("table2").set_index("body_part")
    table = split_table2.copy()
    columns = [f"{s}_{n}" for s in ("train", "valid") for n in ("normal", "abnormal")]
    totals = paper[columns].sum()
    for column in columns:
        table[f"paper_{column}_studies"] = [
            totals[column] if part == "total" else paper[column].get(part, float("nan")) for part in table["body_part"]
        ]
    shown = pd.DataFrame({"body part": table["body_part"]})
    for column in columns:
        shown[column.replace("_", " ") + " studies"] = [
            f"{int(r[f'{column}_studies'])} ({int(r[f'paper_{column}_studies'])})" for _, r in table.iterrows()
        ]
    shown["images"] = table["total_images"].astype(int)
    return table, shown


def table5(calibration: dict[str, pd.DataFrame], operating_points: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per model: its temperature, Brier score and ECE on MURA valid before and after scaling, and each
    operating point's threshold with valid sensitivity, specificity, PPV and NPV [95% CI], all chosen on tune."""
    rows = []
    for model in sorted(calibration):
        overall = calibration[model].set_index("scope").loc["overall"]
        row = {"model": model, **overall.drop("n_studies").to_dict()}
        for point in operating_points[model].itertuples():
            for column in operating_points[model].columns.drop(["operating_point", "n_studies", "n_abnormal"]):
                row[f"{point.operating_point}_{column}"] = getattr(point, column)
        rows.append(row)
    return pd.DataFrame(rows)


def table5_display(table: pd.DataFrame) -> pd.DataFrame:
    shown = pd.DataFrame({"model": table["model"], "T": [number_text(t, 2) for t in table["temperature"]]})
    for score in ("brier", "ece"):
        shown[f"{score.upper() if score == 'ece' else 'Brier'} before → after"] = [
            f"{number_text(r[f'{score}_before'])} → {number_text(r[f'{score}_after'])}" for _, r in table.iterrows()
        ]
    for point in ("best_kappa", "rule_out"):
        shown[f"{point.replace('_', ' ')}: threshold"] = [number_text(v) for v in table[f"{point}_threshold"]]
        for metric in ("sensitivity", "specificity", "ppv", "npv"):
            key = f"{point}_{metric}"
            shown[f"{point.replace('_', ' ')}: {metric}"] = [
                f"{number_text(r[key])} [{number_text(r[f'{key}_low'])}, {number_text(r[f'{key}_high'])}]"
                for _, r in table.iterrows()
            ]
    return shown


def paper_tables(
    split_table2_csv: str,
    metrics_csvs: dict[str, str],
    meta_jsons: dict[str, str],
    members_csv: str | None = None,
    comparisons_csv: str | None = None,
    calibration_csvs: dict[str, str] | None = None,
    operating_points_csvs: dict[str, str] | None = None,
) -> dict[int, tuple[pd.DataFrame, pd.DataFrame, str]]:
    """The paper's Tables 2, 3 and 4 and our Table 5 (calibration and operating points) as (all columns, display
    form, caption); ensembles (``members_csv``) are rows
    like models; Table 3 holds each one's difference from the best on the tuning split (``comparisons_csv``)."""
    metrics, meta = load_results(metrics_csvs, meta_jsons, members_csv)
    t2, t2_shown = table2_display(pd.read_csv(split_table2_csv))
    comparisons = pd.read_csv(comparisons_csv) if comparisons_csv else None
    t3, t4 = table3(metrics, meta, comparisons), table4(metrics)
    t5 = table5(
        {m: pd.read_csv(p) for m, p in (calibration_csvs or {}).items()},
        {m: pd.read_csv(p) for m, p in (operating_points_csvs or {}).items()},
    )
    return {
        2: (t2, t2_shown, "Table 2: MURA studies per body part (this dataset; the paper's MURA-v1.1 in parentheses)"),
        3: (
            t3,
            table3_display(t3),
            "Table 3: study-level metrics on MURA valid, ours [95% bootstrap CI] (paper); images seen: training images "
            f"over all epochs; {ONE_CLASS_MARK}: calls every study the same class (kappa 0 by construction: too little "
            "training to tell studies apart, not a verdict on the architecture); Δ vs best: the difference on MURA "
            "valid from the model ranked best on the tuning split [paired 95% bootstrap CI] (Holm-adjusted p; DeLong "
            f"for AUC); {TIED_MARK}: told apart from that model by neither kappa nor AUC",
        ),
        4: (t4, table4_display(t4), "Table 4: Cohen's kappa per body part, best model of each row starred (paper)"),
        5: (
            t5,
            table5_display(t5) if len(t5) else t5,
            "Table 5 (not in the paper): calibration and operating points, chosen on the tuning split's studies and "
            "reported on MURA valid: temperature T, Brier score and expected calibration error (10 equal-width bins) "
            "before and after temperature scaling; the threshold of best tuning kappa and the rule-out threshold "
            "(tuning sensitivity >= 0.95), each with valid sensitivity, specificity, PPV and NPV [95% bootstrap CI]",
        ),
    }
