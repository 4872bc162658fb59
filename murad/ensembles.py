"""The paper's proposed future work: ensembles of the trained models, chosen on the tuning split only.

Two ensembles, both chosen from the models' study-level predictions on the tuning split (never on MURA valid) and
then evaluated on valid like any model:

- ``ensemble_best_per_body_part``: for each body part, the model with the highest tuning kappa on that body part's
  studies answers for it.
- ``ensemble_top{k}_mean``: the mean study probability of the ``k`` models with the highest overall tuning kappa.

Ties are broken by tuning AUC, then by model name, so the choice never depends on file or dict order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .metrics import point_metrics, scopes, with_prediction
from .result_names import BEST_PER_BODY_PART, top_k_name


def tuning_scores(tune_studies: dict[str, pd.DataFrame], threshold: float = 0.5) -> pd.DataFrame:
    """Kappa and AUC of every model on the tuning split, overall and per body part (scope, model, kappa, auc)."""
    rows = []
    for model in sorted(tune_studies):
        for scope, group in scopes(tune_studies[model]):
            scores = point_metrics(group["label"].to_numpy().astype(int), group["prob"].to_numpy(float), threshold)
            rows.append({"scope": scope, "model": model, "kappa": scores["kappa"], "auc": scores["auc"]})
    return pd.DataFrame(rows, columns=["scope", "model", "kappa", "auc"])


def _ranked(scores: pd.DataFrame) -> pd.DataFrame:
    """Best first: kappa, then AUC (undefined counts as worst), then model name."""
    keyed = scores.assign(_kappa=scores["kappa"].fillna(-np.inf), _auc=scores["auc"].fillna(-np.inf))
    keyed = keyed.sort_values(["_kappa", "_auc", "model"], ascending=[False, False, True], kind="stable")
    return keyed.drop(columns=["_kappa", "_auc"])


def best_on_tuning(scores: pd.DataFrame) -> str:
    """The model ranked best on the whole tuning split (kappa, then AUC, then name): what every model and ensemble
    is compared with; never chosen on MURA valid."""
    return str(_ranked(scores[scores["scope"] == "overall"])["model"].iloc[0])


def best_per_body_part(
    scores: pd.DataFrame, valid_studies: dict[str, pd.DataFrame], threshold: float = 0.5
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Valid studies answered, per body part, by the model best on that body part's tuning studies.

    A body part with no tuning studies (a small tuning split) is answered by the model best on the whole tuning
    split; its member row says so (``chosen_on: overall``).
    """
    overall_best = _ranked(scores[scores["scope"] == "overall"]).iloc[0]
    per_part = {part: _ranked(group).iloc[0] for part, group in scores[scores["scope"] != "overall"].groupby("scope")}
    parts = sorted(set().union(*(set(v["body_part"]) for v in valid_studies.values())))
    members, answers = [], []
    for body_part in parts:
        best, chosen_on = (per_part[body_part], body_part) if body_part in per_part else (overall_best, "overall")
        members.append(
            {
                "ensemble": BEST_PER_BODY_PART,
                "scope": body_part,
                "model": best["model"],
                "tune_kappa": best["kappa"],
                "tune_auc": best["auc"],
                "chosen_on": chosen_on,
            }
        )
        valid = valid_studies[best["model"]]
        answers.append(valid[valid["body_part"] == body_part])
    return with_prediction(pd.concat(answers), threshold), pd.DataFrame(members)


def top_k_mean(
    scores: pd.DataFrame, valid_studies: dict[str, pd.DataFrame], k: int, threshold: float = 0.5
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Valid studies with the mean probability of the ``k`` models best on the whole tuning split."""
    ranked = _ranked(scores[scores["scope"] == "overall"]).head(k)
    name = top_k_name(k)
    members = pd.DataFrame(
        {
            "ensemble": name,
            "scope": "overall",
            "model": ranked["model"].to_list(),
            "tune_kappa": ranked["kappa"].to_list(),
            "tune_auc": ranked["auc"].to_list(),
            "chosen_on": "overall",
        }
    )
    chosen = [valid_studies[m].set_index("study").sort_index() for m in members["model"]]
    for model, table in zip(members["model"], chosen, strict=True):
        if not table.index.equals(chosen[0].index):
            raise ValueError(f"{model}: its valid studies differ from {members['model'].iloc[0]}'s")
    studies = chosen[0].drop(columns=["prob", "pred"]).assign(prob=np.mean([t["prob"] for t in chosen], axis=0))
    return with_prediction(studies.reset_index(), threshold), members
