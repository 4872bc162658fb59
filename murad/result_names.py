"""Names of the workflow's gathered results, shared by the rules (at DAG time, so no heavy imports) and the package."""

from __future__ import annotations

import re

from .families import PAPER_MODELS

# The report's figures (murad.figures draws them), each as results/figures/<name>.<format>.
FIGURES = (
    "kappa_heatmap",
    "metric_bars",
    "roc_curves",
    "learning_curves",
    "kappa_tradeoff",
    "confusion_matrices",
    "differences_from_best",
    "reliability",
)
FIGURE_FORMATS = ("png", "svg")  # in murad.plotting.save_figure's argument order

# The paper's tables (murad.tables writes them), each as results/tables/table<n>.<format>; HTML goes in the report.
TABLES = (2, 3, 4, 5)  # 5 is not the paper's: calibration and operating points
TABLE_FORMATS = ("csv", "md", "tex", "html")

# The ensembles (murad.ensembles builds them); their results sit beside the models' under these names.
ENSEMBLE_PREFIX = "ensemble_"
BEST_PER_BODY_PART = f"{ENSEMBLE_PREFIX}best_per_body_part"


# A training run of a model with a further seed (training.seeds after the first) sits beside the models under this
# name; the first seed's run has the model's own name.
SEED_RUN = re.compile(r"^(?P<model>.+)_seed(?P<seed>\d+)$")


def seed_run(model: str, seed: int) -> str:
    return f"{model}_seed{seed}"


def run_model(name: str) -> tuple[str, int | None]:
    """(model, seed) of a seed run's name; (name, None) for a model's own run (its first seed) or an ensemble."""
    match = SEED_RUN.match(name)
    return (match["model"], int(match["seed"])) if match else (name, None)


def top_k_name(k: int) -> str:
    return f"{ENSEMBLE_PREFIX}top{k}_mean"


# Every table and figure groups its rows: the paper's 18 architectures (and their seed runs), the architectures
# after it (config.modern.yaml), then the ensembles.
GROUPS = ("paper", "modern", "ensemble")


def model_group(name: str) -> str:
    """``paper``, ``modern`` or ``ensemble``: a result name's group in the tables and figures."""
    if name.startswith(ENSEMBLE_PREFIX):
        return "ensemble"
    return "paper" if run_model(name)[0] in PAPER_MODELS else "modern"


def ordered(names) -> list[str]:
    """Result names in the order every table and figure shows them: by group (:data:`GROUPS`), then by name."""
    return sorted(names, key=lambda name: (GROUPS.index(model_group(name)), name))
