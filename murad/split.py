"""The patient-disjoint tuning split carved out of MURA's train (or the paper's protocol: tune on MURA valid)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from .mura import IMAGE_COLUMNS

TUNE_ON = ("tune", "valid")


def tuning_split(images: pd.DataFrame, fraction: float, seed: int, tune_on: str = "tune") -> dict[str, pd.DataFrame]:
    """Train, tune and valid image tables.

    ``tune_on="tune"`` (default): whole patients are moved from train to tune, stratified by body part and label,
    so that plateaus, checkpoint and ensemble choices never look at MURA valid, which stays held out.
    ``tune_on="valid"``: the paper's own protocol, tuning on MURA valid (tune = valid, train = all of train).
    """
    if tune_on not in TUNE_ON:
        raise ValueError(f"split.tune_on must be one of {TUNE_ON}, got {tune_on!r}")
    train = images[images["split"] == "train"][IMAGE_COLUMNS]
    valid = images[images["split"] == "valid"][IMAGE_COLUMNS]
    if tune_on == "valid":
        return {
            "train": train.reset_index(drop=True),
            "tune": valid.reset_index(drop=True),
            "valid": valid.reset_index(drop=True),
        }

    studies = train.drop_duplicates("study")
    stratum = studies["body_part"] + ":" + studies["label"].astype(str)
    per_patient = pd.crosstab(studies["patient"], stratum)
    targets = (stratum.value_counts() * fraction).round().astype(int)
    patients = np.array(sorted(per_patient.index))
    order = np.random.default_rng(seed).permutation(len(patients))
    taken: Counter = Counter()
    chosen = []
    for patient in patients[order]:
        counts = per_patient.loc[patient]
        counts = counts[counts > 0]
        if all(taken[c] + n <= targets[c] for c, n in counts.items()):
            taken.update(counts.to_dict())
            chosen.append(patient)
    is_tune = train["patient"].isin(set(chosen))
    return {
        "train": train[~is_tune].reset_index(drop=True),
        "tune": train[is_tune].reset_index(drop=True),
        "valid": valid.reset_index(drop=True),
    }
