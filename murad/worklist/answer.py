"""Which trained models answer for a study, and how their image probabilities become its probability and call.

- One ``model.pt``: the study probability is its images' probabilities aggregated as the workflow did (mean, or what
  ``operating_points.json`` beside the model records), calibrated with the temperature saved there, and called
  abnormal at a saved operating point (``best_kappa`` unless another is asked for). Without that file: uncalibrated,
  at the threshold 0.5.
- Several ``model.pt`` files, or a workflow ensemble's results folder (``results/ensembles/ensemble_top3_mean``): as
  the workflow's ensembles, the mean of the models' (uncalibrated) study probabilities, called at 0.5; for
  ``ensemble_best_per_body_part`` the study's body part decides which model answers, so a study of a body part the
  ensemble has no model for is not predicted.

A threshold given on the command line replaces the operating point; it applies to the worklist's probability.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..calibration import apply_temperature
from ..errors import InputError
from ..io import file_sha256
from ..names import shown
from ..operating_points import SavedOperatingPoints, read_operating_points
from ..result_names import BEST_PER_BODY_PART, ENSEMBLE_PREFIX

log = logging.getLogger("murad")

MODEL_FILE = "model.pt"
OPERATING_POINTS_FILE = "operating_points.json"
DEFAULT_OPERATING_POINT = "best_kappa"
DEFAULT_THRESHOLD = 0.5  # MURA's and the paper's, and the workflow's ensembles'


@dataclass
class Member:
    """One trained model: its file, the loaded network and what its operating points file says."""

    name: str  # the model.pt's folder's name (the workflow's run name), or the file's stem
    path: Path
    architecture: str  # the model registry's name (murad.models.model_spec)
    network: object  # torch.nn.Module in eval mode
    image_size: int
    saved: SavedOperatingPoints | None

    @property
    def aggregation(self) -> str:
        return self.saved.aggregation if self.saved else "mean"


@dataclass
class Call:
    """A study's answer: its probability (None: not predicted), the threshold on that probability's scale, whether
    it is above it, the operating point's name, the models that answered, or why none did."""

    probability: float | None
    threshold: float | None = None
    abnormal: int | None = None
    operating_point: str = ""
    answered_by: str = ""
    refusal: str | None = None


@dataclass
class Answerer:
    """How the models given to ``murad predict`` answer for a study."""

    label: str  # what the worklist says answered: a model, an ensemble's name, or a mean of models
    members: list[Member]
    per_body_part: dict[str, str] | None = None  # body part -> member name (ensemble_best_per_body_part)
    threshold: float | None = None  # given on the command line
    operating_point: str | None = None  # asked for on the command line

    def __post_init__(self):
        single = len(self.members) == 1 and self.per_body_part is None
        saved = self.members[0].saved if single else None
        if self.operating_point is not None and self.threshold is not None:
            raise InputError("--operating-point and --threshold: give one of them")
        if self.operating_point is not None:
            if saved is None:
                where = "one model.pt with its operating_points.json" if single else "one model, not an ensemble"
                raise InputError(f"--operating-point {self.operating_point}: operating points are saved for {where}")
            if self.operating_point not in saved.operating_points:
                known = ", ".join(sorted(saved.operating_points))
                raise InputError(
                    f"{self.members[0].path.parent / OPERATING_POINTS_FILE}: no operating point "
                    f"{self.operating_point!r} (it has {known})"
                )
        self.temperature = saved.temperature if saved else None
        self.point = None  # (name, threshold on the uncalibrated probability); None when a threshold is given
        if self.threshold is None:
            name = self.operating_point or DEFAULT_OPERATING_POINT
            if saved is not None and name in saved.operating_points:
                self.point = (name, float(saved.operating_points[name]["threshold"]))
            else:
                self.point = ("default", DEFAULT_THRESHOLD)

    @property
    def calibrated(self) -> bool:
        return self.temperature is not None

    def describe(self) -> str:
        """One line for the log and the page: who answers, calibrated or not, and at which threshold."""
        calibration = f"calibrated (temperature {self.temperature:.3g})" if self.calibrated else "uncalibrated"
        if self.point is None:
            cut = f"the given threshold {self.threshold:g}"
        elif self.point[0] == "default":
            cut = f"the threshold {self.point[1]:g}"
        else:
            cut = f"operating point {self.point[0]} (threshold {self.point[1]:.3f} on the uncalibrated probability)"
        return f"{self.label}: {calibration} probability, abnormal above {cut}"

    def member_for(self, body_part: str | None) -> list[Member]:
        if self.per_body_part is None:
            return self.members
        name = self.per_body_part.get(body_part or "")
        return [member for member in self.members if member.name == name]

    def call(self, body_part: str | None, study_probabilities: dict[str, float]) -> Call:
        """The study's call from each answering member's study probability (``study_probabilities`` by name)."""
        members = self.member_for(body_part)
        if not members:
            parts = ", ".join(sorted(self.per_body_part or {}))
            reason = "body part unknown" if not body_part else f"body part {body_part!r} is not one of {parts}"
            return Call(None, refusal=f"{reason}: {self.label} answers per body part")
        if any(member.name not in study_probabilities for member in members):
            return Call(None)  # none of its images was read
        raw = float(np.mean([study_probabilities[m.name] for m in members]))
        answered_by = ", ".join(m.name for m in members)
        if self.point is None:  # a threshold given on the reported probability's scale
            probability = self._calibrated(raw)
            return Call(probability, self.threshold, int(probability > self.threshold), "given", answered_by)
        name, cut = self.point
        return Call(self._calibrated(raw), self._calibrated(cut), int(raw > cut), name, answered_by)

    def _calibrated(self, probability: float) -> float:
        if self.temperature is None:
            return probability
        return float(apply_temperature(np.array([probability]), self.temperature)[0])


# ------------------------------------------------------------------------------------------ what --model names


def model_files(given: list[str]) -> tuple[str, list[tuple[str, Path]], dict[str, str] | None]:
    """(label, [(member name, model.pt)], body part -> member name or None) of the ``--model`` arguments: model.pt
    files, model folders (holding model.pt), or one ensemble's results folder."""
    ensembles = [Path(g) for g in given if Path(g).is_dir() and Path(g).name.startswith(ENSEMBLE_PREFIX)]
    if ensembles:
        if len(given) > 1:
            raise InputError(
                f"{shown(str(ensembles[0]))}: an ensemble's folder is given alone, not beside other --model files"
            )
        return ensemble_files(ensembles[0])
    files = []
    for text in given:
        path = Path(text)
        path = path / MODEL_FILE if path.is_dir() else path
        if not path.is_file():
            raise InputError(
                f"{shown(text)}: no such model file (a model.pt, a folder holding one, or an ensemble's folder)"
            )
        files.append((path.parent.name if path.name == MODEL_FILE else path.stem, path))
    names = [name for name, _ in files]
    if len(set(names)) < len(names):
        files = [(f"{name}#{index + 1}", path) for index, (name, path) in enumerate(files)]
    label = files[0][0] if len(files) == 1 else f"mean of {', '.join(name for name, _ in files)}"
    return label, files, None


def ensemble_files(folder: Path) -> tuple[str, list[tuple[str, Path]], dict[str, str] | None]:
    """An ensemble the workflow chose (``results/ensembles/<name>/``): its members from ``members.csv`` beside it,
    each model at ``results/models/<model>/model.pt``."""
    name, members_csv = folder.name, folder.parent / "members.csv"
    try:
        with open(members_csv, newline="") as handle:
            rows = [row for row in csv.DictReader(handle) if row.get("ensemble") == name]
    except OSError as error:
        where = shown(str(members_csv))
        raise InputError(f"{where}: the ensembles' members cannot be read ({error.strerror})") from None
    if not rows or any(not row.get("model") or not row.get("scope") for row in rows):
        raise InputError(f"{shown(str(members_csv))}: no members of {shown(name)} (columns ensemble, scope, model)")
    models_folder = folder.parent.parent / "models"
    models = sorted({row["model"] for row in rows}, key=[row["model"] for row in rows].index)
    files = [(model, models_folder / model / MODEL_FILE) for model in models]
    for model, path in files:
        if not path.is_file():
            raise InputError(f"{shown(str(path))}: {shown(name)}'s member {shown(model)} has no model file")
    per_body_part = {row["scope"]: row["model"] for row in rows} if name == BEST_PER_BODY_PART else None
    return name, files, per_body_part


def read_saved(model_path: Path) -> SavedOperatingPoints | None:
    """The operating points file beside a model, when there is one, checked to be that model's: one chosen for
    another model.pt (another SHA-256) is refused; one from before murad recorded the digest is used with a
    warning."""
    path = model_path.parent / OPERATING_POINTS_FILE
    if not path.is_file():
        return None
    saved = read_operating_points(path)
    if saved.model_sha256 is None:
        log.warning(
            "%s: records no SHA-256 of the model.pt it was chosen for (an older murad wrote it); its temperature and "
            "thresholds are used for %s as they are",
            shown(str(path)),
            shown(str(model_path)),
        )
        return saved
    digest = file_sha256(model_path)
    if digest != saved.model_sha256:
        raise InputError(
            f"{shown(str(path))}: chosen for another model.pt (SHA-256 {saved.model_sha256[:12]}...), not "
            f"{shown(str(model_path))} ({digest[:12]}...); give that model.pt from a folder of its own"
        )
    return saved
