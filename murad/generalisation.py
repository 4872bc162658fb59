"""Does it hold at another hospital? Every model and ensemble on each external test set, beside MURA valid: the
set's metrics, Table 6 and the figure ``generalisation``.

Nothing is chosen on an external set. The models, the ensembles' members, each model's temperature and operating
points were all chosen on the tuning split; on a set they are applied as they are:

- **metrics**: :func:`murad.metrics.study_metrics` on the set's studies (overall and per body part, 95% bootstrap
  CIs), at the workflow's threshold;
- **kappa against valid**: ``delta_kappa`` = kappa on the set - kappa on MURA valid, its 95% interval from
  resampling the set's studies and valid's studies independently (the two are independent samples);
- **calibration drift**: Brier score and ECE on the set before and after scaling with the model's tuning-split
  temperature (ensembles carry none), beside valid's after scaling;
- **the triage promise**: each saved operating point (``best_kappa``, ``rule_out``) applied unchanged: sensitivity,
  specificity, PPV and NPV on the set with 95% bootstrap CIs.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .calibration import apply_temperature, brier_score, expected_calibration_error
from .ensembles import best_on_tuning, best_per_body_part, top_k_mean, tuning_scores
from .metrics import point_metrics, resampled_metrics, study_metrics
from .operating_points import OPERATING_METRICS, SavedOperatingPoints, operating_point_metrics
from .result_names import BEST_PER_BODY_PART, ordered, top_k_name
from .tables import number_text

TABLE6_COLUMNS = [
    "set",
    "model",
    "n_studies",
    "kappa",
    "kappa_low",
    "kappa_high",
    "auc",
    "auc_low",
    "auc_high",
    "kappa_valid",
    "delta_kappa",
    "delta_kappa_low",
    "delta_kappa_high",
    "ece",
    "rule_out_sensitivity",
    "rule_out_specificity",
]
EXTRA_COLUMNS = [  # Table 6's CSV holds these too: what the figure and a reader checking a row need
    "n_abnormal",
    "kappa_valid_low",
    "kappa_valid_high",
    "brier",
    "ece_uncalibrated",
    "ece_valid",
    "temperature",
    "best_kappa_sensitivity",
    "best_kappa_specificity",
    "rule_out_sensitivity_low",
    "rule_out_sensitivity_high",
    "best_on_tune",
]
CALIBRATION_COLUMNS = ["model", "temperature", "brier_before", "brier_after", "ece_before", "ece_after"]


def external_ensembles(
    tune: dict[str, pd.DataFrame], external: dict[str, pd.DataFrame], top_k: int, threshold: float = 0.5
) -> dict[str, pd.DataFrame]:
    """The workflow's ensembles on a set's studies, chosen as on MURA valid: from the tuning split (a body part
    with no tuning studies, such as one outside MURA's seven, answered by the model best on the whole split)."""
    if len(tune) < 2:
        return {}
    scores = tuning_scores(tune, threshold)
    return {
        BEST_PER_BODY_PART: best_per_body_part(scores, external, threshold)[0],
        top_k_name(top_k): top_k_mean(scores, external, top_k, threshold)[0],
    }


def kappa_difference(
    external: pd.DataFrame, valid: pd.DataFrame, threshold: float = 0.5, repetitions: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """Kappa on the set minus kappa on valid, and its 95% percentile interval from resampling each table's studies
    independently, ``repetitions`` times."""
    kappas = []
    for stream, table in enumerate((external, valid)):
        label, prob = table["label"].to_numpy().astype(int), table["prob"].to_numpy(float)
        point = point_metrics(label, prob, threshold)["kappa"]
        resampled = resampled_metrics(label, prob, threshold, repetitions, np.random.default_rng([seed, 6, stream]))
        kappas.append((point, resampled["kappa"]))
    (external_kappa, external_draws), (valid_kappa, valid_draws) = kappas
    differences = external_draws - valid_draws
    differences = differences[~np.isnan(differences)]
    low, high = np.percentile(differences, [2.5, 97.5]) if len(differences) else (np.nan, np.nan)
    return float(external_kappa - valid_kappa), float(low), float(high)


def calibration_on_set(studies: pd.DataFrame, temperature: float | None) -> dict:
    """Brier score and ECE of a set's studies as predicted, and after the tuning-split temperature (None: as is)."""
    label, prob = studies["label"].to_numpy(float), studies["prob"].to_numpy(float)
    scaled = prob if temperature is None else apply_temperature(prob, temperature)
    return {
        "temperature": temperature,
        "brier_before": brier_score(label, prob),
        "brier_after": brier_score(label, scaled),
        "ece_before": expected_calibration_error(label, prob),
        "ece_after": expected_calibration_error(label, scaled),
    }


@dataclass
class SetResults:
    """Everything measured on one set: metrics and studies per model and ensemble, and the set's rows of Table 6,
    its calibration and its operating points."""

    metrics: dict[str, pd.DataFrame]
    ensembles: dict[str, pd.DataFrame]
    summary: pd.DataFrame
    calibration: pd.DataFrame
    operating_points: pd.DataFrame


def measure_set(
    name: str,
    external: dict[str, pd.DataFrame],
    tune: dict[str, pd.DataFrame],
    valid: dict[str, pd.DataFrame],
    valid_metrics: dict[str, pd.DataFrame],
    saved: dict[str, SavedOperatingPoints],
    valid_calibration: dict[str, pd.DataFrame],
    top_k: int,
    threshold: float = 0.5,
    repetitions: int = 1000,
    seed: int = 0,
) -> SetResults:
    """Every model's (``external``: its studies on the set) and ensemble's results on the set ``name`` (module
    docstring); ``valid`` and ``valid_metrics`` hold the same names' MURA valid studies and metrics."""
    ensembles = external_ensembles(tune, external, top_k, threshold)
    studies = {**external, **ensembles}
    best = best_on_tuning(tuning_scores(tune, threshold)) if tune else None
    metrics, rows, calibration, points = {}, [], [], []
    for model in ordered(studies):
        table = studies[model]
        metrics[model] = study_metrics(table, threshold, repetitions, seed)
        overall = metrics[model].iloc[0]
        on_valid = valid_metrics[model].set_index("scope").loc["overall"]
        delta = kappa_difference(table, valid[model], threshold, repetitions, seed)
        record = saved.get(model)
        drift = calibration_on_set(table, record.temperature if record else None)
        calibration.append({"model": model, **drift})
        at = operating_point_metrics(table, record.operating_points, repetitions, seed) if record else None
        if at is not None:
            points.append(at.assign(model=model))
        at = at.set_index("operating_point") if at is not None else None
        rows.append(
            {
                "set": name,
                "model": model,
                "n_studies": int(overall["n_studies"]),
                **{f"{m}{s}": overall[f"{m}{s}"] for m in ("kappa", "auc") for s in ("", "_low", "_high")},
                "kappa_valid": on_valid["kappa"],
                "delta_kappa": delta[0],
                "delta_kappa_low": delta[1],
                "delta_kappa_high": delta[2],
                "ece": drift["ece_after"],
                **_point(at, "rule_out", ("sensitivity", "specificity")),
                "n_abnormal": int(overall["n_abnormal"]),
                "kappa_valid_low": on_valid["kappa_low"],
                "kappa_valid_high": on_valid["kappa_high"],
                "brier": drift["brier_after"],
                "ece_uncalibrated": drift["ece_before"],
                "ece_valid": _valid_ece(valid_calibration.get(model)),
                "temperature": drift["temperature"],
                **_point(at, "best_kappa", ("sensitivity", "specificity")),
                **{f"rule_out_sensitivity{s}": _value(at, "rule_out", f"sensitivity{s}") for s in ("_low", "_high")},
                "best_on_tune": model == best,
            }
        )
    columns = ["model", "operating_point", "threshold", "n_studies", "n_abnormal"]
    columns += [f"{m}{s}" for m in OPERATING_METRICS for s in ("", "_low", "_high")]
    return SetResults(
        metrics,
        ensembles,
        pd.DataFrame(rows, columns=TABLE6_COLUMNS + EXTRA_COLUMNS),
        pd.DataFrame(calibration, columns=CALIBRATION_COLUMNS),
        pd.concat(points)[columns] if points else pd.DataFrame(columns=columns),
    )


def _value(at: pd.DataFrame | None, point: str, column: str) -> float:
    return float(at.loc[point, column]) if at is not None and point in at.index else float("nan")


def _point(at: pd.DataFrame | None, point: str, metrics: tuple[str, ...]) -> dict:
    return {f"{point}_{metric}": _value(at, point, metric) for metric in metrics}


def _valid_ece(calibration: pd.DataFrame | None) -> float:
    """A model's ECE on MURA valid after scaling (``calibrate``'s table), NaN for an ensemble."""
    if calibration is None:
        return float("nan")
    return float(calibration.set_index("scope").loc["overall", "ece_after"])


# ------------------------------------------------------------------------------------------ Table 6, the figure


def table6_display(table: pd.DataFrame) -> pd.DataFrame:
    """Human-readable Table 6: a row per set and model, 'value [95% CI]'."""
    shown = pd.DataFrame(
        {
            "set": table["set"],
            "model": [r.model + " (best on tune)" * bool(r.best_on_tune) for r in table.itertuples()],
            "studies": table["n_studies"].astype(int),
        }
    )
    for metric in ("kappa", "auc", "delta_kappa"):
        label = {"kappa": "kappa", "auc": "AUC", "delta_kappa": "Δkappa vs valid"}[metric]
        shown[label] = [
            f"{number_text(r[metric])} [{number_text(r[f'{metric}_low'])}, {number_text(r[f'{metric}_high'])}]"
            for _, r in table.iterrows()
        ]
        if metric == "auc":
            shown["kappa on valid"] = [number_text(v) for v in table["kappa_valid"]]
    shown["ECE (valid)"] = [f"{number_text(r.ece)} ({number_text(r.ece_valid)})" for r in table.itertuples()]
    shown["rule-out sensitivity"] = [number_text(v) for v in table["rule_out_sensitivity"]]
    shown["rule-out specificity"] = [number_text(v) for v in table["rule_out_specificity"]]
    return shown


TABLE6_CAPTION = (
    "Table 6 (not in the paper): every model and ensemble on each external test set, nothing chosen on the set: "
    "kappa and AUC [95% bootstrap CI]; kappa on MURA valid and the difference set - valid [95% CI from resampling "
    "both sets' studies independently]; ECE on the set at the tuning-split temperature (valid's after scaling in "
    "parentheses); sensitivity and specificity at the rule-out operating point chosen on the tuning split "
    "(tuning sensitivity >= 0.95): does the triage promise hold?"
)
NO_SETS_NOTE = "no external test sets configured (config key external)"


def generalisation_figure(table6: pd.DataFrame):
    """Each model's and ensemble's kappa on MURA valid and on each external set, with 95% CIs, one row each; the
    model best on the tuning split marked."""
    if table6.empty:
        figure, ax = plt.subplots(figsize=(6, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, NO_SETS_NOTE, ha="center", va="center", fontsize=8)
        return figure
    names = ordered(table6["model"].unique())
    sets = sorted(table6["set"].unique())
    best = set(table6.loc[table6["best_on_tune"].astype(bool), "model"])
    figure, ax = plt.subplots(figsize=(7.5, 0.32 * len(names) * (1 + 0.25 * len(sets)) + 1.6))
    y = np.arange(len(names), dtype=float)
    valid = table6.drop_duplicates("model").set_index("model").loc[names]
    series = [("MURA valid", valid, "kappa_valid")] + [
        (name, table6[table6["set"] == name].set_index("model").reindex(names), "kappa") for name in sets
    ]
    colours = sns.color_palette(n_colors=len(series))
    step = 0.5 / max(1, len(series) - 1)  # a model's markers within its own band, clear of the next model's
    for row in range(0, len(names), 2):
        ax.axhspan(row - 0.5, row + 0.5, color="0.94", zorder=0)
    ax.grid(axis="y", visible=False)
    for index, (label, rows, column) in enumerate(series):
        offset = (index - (len(series) - 1) / 2) * step
        values = rows[column].to_numpy(float)
        low = values - rows[f"{column}_low"].to_numpy(float)
        high = rows[f"{column}_high"].to_numpy(float) - values
        ax.errorbar(
            values,
            y + offset,
            xerr=np.vstack([low, high]),
            fmt="o" if index == 0 else "s",
            markersize=4,
            elinewidth=0.8,
            capsize=2,
            color=colours[index],
            label=label,
        )
    ax.set_yticks(y, [f"{n}  (best on tune)" if n in best else n for n in names], fontsize=7)
    ax.set_ylim(len(names) - 0.5, -0.5)  # the first model on top
    ax.axvline(0, color="grey", linewidth=0.6)
    lowest = np.nanmin([np.nanmin(rows[f"{column}_low"].to_numpy(float), initial=0.0) for _, rows, column in series])
    ax.set(xlim=(min(-0.1, lowest - 0.05), 1.0), xlabel="study-level Cohen's kappa (95% bootstrap CI)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="kappa on", title_fontsize=7)
    ax.set_title(
        "Kappa on MURA valid and on each external test set\n(models, ensembles and thresholds chosen on the tuning "
        "split; nothing on an external set)",
        fontsize=9,
    )
    figure.tight_layout()
    return figure
