"""Names of the workflow's gathered results, shared by the rules (at DAG time, so no heavy imports) and the package."""

from __future__ import annotations

# The report's figures (murad.figures draws them), each as results/figures/<name>.<format>.
FIGURES = ("kappa_heatmap", "metric_bars", "roc_curves", "learning_curves", "kappa_tradeoff", "confusion_matrices")
FIGURE_FORMATS = ("png", "svg")  # in murad.plotting.save_figure's argument order

# The paper's tables (murad.tables writes them), each as results/tables/table<n>.<format>; HTML goes in the report.
TABLES = (2, 3, 4)
TABLE_FORMATS = ("csv", "md", "tex", "html")

# The ensembles (murad.ensembles builds them); their results sit beside the models' under these names.
BEST_PER_BODY_PART = "ensemble_best_per_body_part"


def top_k_name(k: int) -> str:
    return f"ensemble_top{k}_mean"


def ordered(names) -> list[str]:
    """Result names in the order every table and figure shows them: models by name, then ensembles by name."""
    return sorted(names, key=lambda name: (name.startswith("ensemble_"), name))
