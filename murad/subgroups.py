"""Subgroups of MURA valid, measured by every model and ensemble: Table 7 (not in the paper).

A model that finds metal but not fractures looks good on MURA, where about half the abnormal studies show hardware or
a cast; its sensitivity per kind of abnormality says so. The subgroups are

- on synthetic data, each abnormality kind (the studies whose views show a fracture, hardware or lytic lesions, from
  ``lesions.csv``) and ``normal`` (the normal studies): ``source`` kind;
- those named in the configuration (``evaluation.subgroups``: a CSV per name with a column ``study``, the study paths
  as MURA's CSVs write them; the trailing slash may be left out): ``source`` given.

Each gets, per model and ensemble, at the workflow's threshold: sensitivity and specificity (NaN where it has no
abnormal or no normal studies), and kappa and AUC where it has both, each with a 95% bootstrap CI.
"""

from __future__ import annotations

import pandas as pd

from .errors import InputError
from .result_names import ordered
from .synthetic import LESION_KINDS

RATES = ("sensitivity", "specificity")
NORMAL = "normal"
KIND_SUBGROUPS = (*LESION_KINDS, NORMAL)  # the subgroups synthetic data brings
SUBGROUP_COLUMNS = ["subgroup", "source", "model", "n_studies", "n_abnormal"] + [
    f"{metric}{suffix}" for metric in (*RATES, "kappa", "auc") for suffix in ("", "_low", "_high")
]
NO_SUBGROUPS_NOTE = "no subgroups: the data has no lesion kinds (not synthetic) and evaluation.subgroups names none"


def _study_of(image_path: str) -> str:
    return image_path.rsplit("/", 1)[0] + "/"


def kind_subgroups(valid: pd.DataFrame, lesions: pd.DataFrame) -> dict[str, tuple[str, set[str]]]:
    """Each abnormality kind's valid studies (those with a view that shows it), and the normal ones."""
    studies = set(valid["study"])
    shown = lesions.assign(study=lesions["path"].map(_study_of))
    shown = shown[shown["study"].isin(studies)]
    groups = {kind: ("kind", set(part["study"])) for kind, part in shown.groupby("kind", sort=True)}
    groups[NORMAL] = ("kind", set(valid.loc[valid["label"] == 0, "study"]))
    return groups


def read_subgroup(path: str, valid_studies: set[str]) -> set[str]:
    """The studies a subgroup's CSV lists (column ``study``), each checked to be a MURA valid study."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: not a readable CSV ({error})") from None
    if "study" not in table.columns:
        raise InputError(f"{path}: no column 'study' (the study paths of MURA valid)")
    studies = set()
    for row, study in enumerate(table["study"].str.strip(), start=2):
        named = study if study.endswith("/") else study + "/"
        if named not in valid_studies:
            raise InputError(f"{path}: row {row}, column study: {study} is not a study of MURA valid")
        studies.add(named)
    if not studies:
        raise InputError(f"{path}: lists no studies")
    return studies


def subgroup_metrics(
    studies: dict[str, pd.DataFrame],
    subgroups: dict[str, tuple[str, set[str]]],
    threshold: float = 0.5,
    repetitions: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per subgroup and model or ensemble (``SUBGROUP_COLUMNS``; the module docstring says what each holds)."""
    # here, not at the top: the workflow's parse imports this module for KIND_SUBGROUPS, and scikit-learn and scipy
    # (through the metrics) would add most of a second to every `snakemake` command
    from .metrics import study_metrics
    from .operating_points import operating_point_metrics

    rows = []
    for subgroup, (source, members) in sorted(subgroups.items()):
        for model in ordered(studies):
            table = studies[model][studies[model]["study"].isin(members)]
            rates = operating_point_metrics(table, {"threshold": threshold}, repetitions, seed).iloc[0]
            overall = study_metrics(table, threshold, repetitions, seed).iloc[0]
            both = 0 < overall["n_abnormal"] < overall["n_studies"]
            row = {
                "subgroup": subgroup,
                "source": source,
                "model": model,
                "n_studies": int(overall["n_studies"]),
                "n_abnormal": int(overall["n_abnormal"]),
            }
            for suffix in ("", "_low", "_high"):
                row |= {f"{metric}{suffix}": rates[f"{metric}{suffix}"] for metric in RATES}
                row |= {f"{m}{suffix}": overall[f"{m}{suffix}"] if both else float("nan") for m in ("kappa", "auc")}
            rows.append(row)
    return pd.DataFrame(rows, columns=SUBGROUP_COLUMNS)


def table7_display(table: pd.DataFrame) -> pd.DataFrame:
    """Subgroup (rows) x model (columns): sensitivity where the subgroup is all abnormal, specificity where all
    normal, else kappa; each 'value [95% CI]'."""
    if table.empty:
        return pd.DataFrame({"subgroup": []})
    shown = {}
    for (subgroup, n_studies, n_abnormal), part in table.groupby(["subgroup", "n_studies", "n_abnormal"], sort=True):
        metric = "sensitivity" if n_abnormal == n_studies else "specificity" if n_abnormal == 0 else "kappa"
        cells = {"subgroup": f"{subgroup} ({metric}, {n_studies} studies)"}
        for row in part.itertuples():
            value, low, high = (getattr(row, f"{metric}{s}") for s in ("", "_low", "_high"))
            cells[row.model] = "–" if pd.isna(value) else f"{value:.3f} [{low:.3f}, {high:.3f}]"
        shown[subgroup] = cells
    return pd.DataFrame(list(shown.values()))


TABLE7_CAPTION = (
    "Table 7 (not in the paper): MURA valid's subgroups, every model and ensemble at the workflow's threshold: "
    "sensitivity in a subgroup of abnormal studies (each abnormality kind on synthetic data: does a model find "
    "fractures, or only metal?), specificity in one of normal studies, kappa in a mixed one [95% bootstrap CI]"
)
