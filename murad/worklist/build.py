"""``murad predict``: new studies ranked by their probability of abnormality, with each image's heat map.

The images are read (:mod:`murad.radiographs`), squashed to each model's input size and predicted as the workflow
predicts (:func:`murad.inference.image_probabilities`); the heat map is the CAM (or Grad-CAM, by its family) of the
model that answers for the study (the first of an ensemble's). A file that cannot be read is reported for its
study, which is predicted on the images that were read, or not at all when none was: the worklist never loses the
other studies, and every file it was given has its row in ``images.csv``, read or not.

``OUT_DIR`` gets ``worklist.csv`` (one row per study, ranked), ``images.csv`` (one row per file),
``worklist.html``, ``overlays/`` and the run's record, each swapped in whole when everything is done; nothing else
there is touched (:mod:`murad.worklist.output`). Names are written as :func:`murad.names.shown` gives them.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io import write_csv
from ..names import shown
from ..radiographs import RadiographError, read_radiograph, squash
from .answer import Answerer, Call, Member, model_files, read_saved
from .output import IMAGE_COLUMNS, OVERLAYS, WORKLIST_COLUMNS, OutputFolder, check_output_folder
from .studies import Study, find_studies

log = logging.getLogger("murad")

DISPLAY_SIZE = 512  # the longest side of the pictures on the page
STATUS_OK, STATUS_INCOMPLETE, STATUS_NOT_PREDICTED = "ok", "incomplete", "not predicted"
STATUSES = (STATUS_OK, STATUS_INCOMPLETE, STATUS_NOT_PREDICTED)


@dataclass
class ImageResult:
    path: Path
    name: str  # its name in its study folder, or its path as the CSV gives it (raw: shown() when written)
    study_number: int
    index: int  # within its study
    kind: str = ""
    size: tuple[int, int] | None = None  # (width, height)
    probability: float | None = None  # of the model that answers for its study (the first of several)
    picture: str = ""  # overlays/...: the radiograph as the page shows it
    overlay: str = ""  # overlays/...: the heat map over it
    reason: str = ""  # why it was not read

    def row(self, study: str) -> dict:
        width, height = self.size or (None, None)
        status = "not read" if self.reason else ("ok" if self.probability is not None else "not predicted")
        return {
            "study": shown(study),
            "file": shown(self.name),
            "kind": self.kind,
            "width": width,
            "height": height,
            "probability": None if self.probability is None else round(self.probability, 6),
            "overlay": self.overlay,
            "status": status,
            "reason": shown(self.reason),
        }


@dataclass
class StudyResult:
    study: Study
    number: int  # position in the input (its folder under overlays/)
    images: list[ImageResult] = field(default_factory=list)
    body_part: str | None = None
    probabilities: dict[str, float] = field(default_factory=dict)  # study probability by member name
    call: Call | None = None

    @property
    def n_read(self) -> int:
        return sum(not image.reason for image in self.images)

    def status_and_reason(self) -> tuple[str, str]:
        unread = [f"{image.name}: {image.reason}" for image in self.images if image.reason]
        if self.call is None or self.call.probability is None:
            if self.study.unlisted:
                why = self.study.unlisted
            elif not self.images:
                why = "no files in the study folder"
            elif self.call is not None and self.call.refusal:
                why = self.call.refusal
            else:
                why = "no image could be read"
            return STATUS_NOT_PREDICTED, "; ".join([why, *unread])
        if unread:
            return STATUS_INCOMPLETE, "; ".join([f"predicted on {self.n_read} of {len(self.images)} images", *unread])
        return STATUS_OK, ""

    def row(self) -> dict:
        status, reason = self.status_and_reason()
        call = self.call if self.call is not None and self.call.probability is not None else None
        return {
            "rank": None,
            "study": shown(self.study.name),
            "body_part": shown(self.body_part or ""),
            "n_images": len(self.images),
            "n_read": self.n_read,
            "probability": call.probability if call else None,
            "abnormal": call.abnormal if call else None,
            "threshold": call.threshold if call else None,
            "operating_point": call.operating_point if call else "",
            "model": shown(call.answered_by) if call else "",
            "status": status,
            "reason": shown(reason),
        }


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:80] or "image"


def load_answerer(
    models: list[str], device, operating_point: str | None = None, threshold: float | None = None
) -> Answerer:
    """The ``--model`` arguments loaded (each checked) into the :class:`Answerer` of the worklist."""
    from ..inference import load_trained

    label, files, per_body_part = model_files(models)
    members = []
    for name, path in files:
        network, record = load_trained(path, device)
        size = int(record["settings"]["image_size"])
        members.append(Member(name, path, record["model"], network, size, read_saved(path)))
    return Answerer(label, members, per_body_part, threshold, operating_point)


def _read(image: ImageResult) -> tuple[ImageResult, np.ndarray | None, str | None]:
    """(image, its pixels or None, its DICOM body part or None); the reason on the image when it cannot be read."""
    try:
        radiograph = read_radiograph(image.path)
    except RadiographError as error:
        image.reason = str(error)
        return image, None, None
    image.kind = radiograph.kind
    image.size = (radiograph.pixels.shape[1], radiograph.pixels.shape[0])
    return image, radiograph.pixels, radiograph.body_part


def _groups(studies: list[StudyResult], images: int) -> list[list[StudyResult]]:
    """Whole studies in groups of about ``images`` files (a larger study is a group of its own)."""
    groups, current, count = [], [], 0
    for study in studies:
        if current and count + len(study.images) > images:
            groups.append(current)
            current, count = [], 0
        current.append(study)
        count += len(study.images)
    return groups + ([current] if current else [])


class Predictor:
    """Predicts groups of studies with the answerer's models and draws each read image with its heat map."""

    def __init__(self, answerer: Answerer, device, batch_size: int, overlays: Path, colormap: str, alpha: float):
        from ..cam.rendering import colour_lut
        from ..data import Normaliser

        self.answerer, self.batch_size, self.overlays, self.alpha = answerer, batch_size, overlays, alpha
        self.normaliser = Normaliser(device)
        self.lut = colour_lut(colormap)

    def run(self, group: list[StudyResult], pixels: dict[tuple[int, int], np.ndarray]) -> None:
        """Each member's study probabilities, the image probabilities and heat maps of the model that answers for
        the study (the first of several), and the study calls. ``pixels`` by (study number, image index)."""
        from ..metrics import aggregate_studies

        for member in self.answerer.members:
            answered = [study for study in group if member in self.answerer.member_for(study.body_part)]
            images = [image for study in answered for image in study.images if not image.reason]
            if not images:
                continue
            draws = {s.number for s in answered if self.answerer.member_for(s.body_part)[0] is member}
            cache = np.stack([squash(pixels[(i.study_number, i.index)], member.image_size) for i in images])
            probabilities = self._probabilities(member, cache)
            frame = pd.DataFrame({"study": [i.study_number for i in images], "prob": probabilities})
            frame = frame.assign(patient="", body_part="", label=0)
            per_study = aggregate_studies(frame, how=member.aggregation).set_index("study")["prob"]
            for study in answered:
                if study.number in per_study.index:
                    study.probabilities[member.name] = float(per_study[study.number])
            rows = np.flatnonzero([i.study_number in draws for i in images])
            heat = self._maps(member, cache, rows)
            for k, row in enumerate(rows):
                image = images[row]
                image.probability = float(probabilities[row])
                self._draw(image, pixels[(image.study_number, image.index)], heat[k])
        for study in group:
            study.call = self.answerer.call(study.body_part, study.probabilities)
            for image in study.images:
                if not image.reason and not image.picture:  # read, but no model answers for its study
                    self._draw(image, pixels[(image.study_number, image.index)], None)

    def _probabilities(self, member: Member, cache: np.ndarray) -> np.ndarray:
        """As the workflow's predict job writes them (6 decimals), so that a study's probability is the one its
        operating points were chosen on, to the last digit."""
        from ..inference import image_probabilities

        return image_probabilities(member.network, cache, self.normaliser, self.batch_size).astype(np.float64).round(6)

    def _maps(self, member: Member, cache: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The member's heat map (CAM or Grad-CAM, by its family) of the cache ``rows``, on the network's grid."""
        from ..cam.maps import compute_maps
        from ..models import model_spec

        spec = model_spec(member.architecture)
        heat, _, _ = compute_maps(member.network, spec, cache, rows, self.batch_size, self.normaliser.device)
        return heat

    def _draw(self, image: ImageResult, pixels: np.ndarray, heat: np.ndarray | None) -> None:
        """The radiograph at display size and, where there is a map, the map over it, as PNG files."""
        from ..cam import rendering
        from ..cam.maps import upsample

        picture = rendering.thumbnail(pixels, DISPLAY_SIZE)
        folder = self.overlays / f"{image.study_number:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{image.index + 1}_{_safe(Path(image.name).stem)}"
        rendering.save_png(picture, folder / f"{stem}.png", compress_level=1)
        image.picture = f"{self.overlays.name}/{folder.name}/{stem}.png"
        if heat is not None:
            height, width = picture.shape
            coloured = rendering.overlay(picture, upsample(heat, height, width), self.lut, self.alpha)
            rendering.save_png(coloured, folder / f"{stem}.cam.png", compress_level=1)
            image.overlay = f"{self.overlays.name}/{folder.name}/{stem}.cam.png"


def ranked(rows: list[dict]) -> pd.DataFrame:
    """The worklist: predicted studies by probability (highest first, before rounding to 6 decimals; ties by study
    name) ranked 1, 2, ...; the studies not predicted after them, unranked."""
    table = pd.DataFrame(rows, columns=WORKLIST_COLUMNS)
    predicted = table["probability"].notna()
    order = table[predicted].sort_values(["probability", "study"], ascending=[False, True], kind="stable")
    rest = table[~predicted].sort_values("study", kind="stable")
    order = order.assign(rank=range(1, len(order) + 1))
    table = pd.concat([order, rest]) if len(rest) else order
    for column in ("rank", "n_images", "n_read", "abnormal"):
        table[column] = table[column].astype("Int64")
    table[["probability", "threshold"]] = table[["probability", "threshold"]].astype(float).round(6)
    return table.reset_index(drop=True)


def _study_results(found: list[Study], source: Path) -> list[StudyResult]:
    """Each study with a result per entry: a folder's files named within their study folder, a CSV's as listed."""
    studies = []
    for number, study in enumerate(found):
        images = [
            ImageResult(path, path.name if source.is_dir() else str(path), number, index)
            for index, path in enumerate(study.images)
        ]
        studies.append(StudyResult(study, number, images, study.body_part))
    return studies


def _predict_all(studies, predictor: Predictor, batch_size: int, threads: int, progress: bool | None) -> None:
    """Read every file (a thread pool) and predict, group by group of whole studies, with a progress bar."""
    from tqdm import tqdm

    n_images = sum(len(study.images) for study in studies)
    with (
        ThreadPoolExecutor(max_workers=threads) as pool,
        tqdm(total=n_images, unit="image", disable=None if progress is None else not progress, file=sys.stderr) as bar,
    ):
        for group in _groups(studies, batch_size):
            pixels = {}
            for image, picture, body_part in pool.map(_read, [i for s in group for i in s.images]):
                if picture is not None:
                    pixels[(image.study_number, image.index)] = picture
                    owner = studies[image.study_number]
                    owner.body_part = owner.body_part or body_part
            predictor.run(group, pixels)
            bar.update(sum(len(s.images) for s in group))


def _write(folder: Path, studies: list[StudyResult], answerer: Answerer, source: str) -> pd.DataFrame:
    """worklist.csv, images.csv and worklist.html into ``folder``; the worklist's table."""
    from .page import worklist_page

    worklist = ranked([study.row() for study in studies])
    image_rows = [image.row(study.study.name) for study in studies for image in study.images]
    write_csv(worklist, folder / "worklist.csv")
    images = pd.DataFrame(image_rows, columns=IMAGE_COLUMNS).astype({"width": "Int64", "height": "Int64"})
    write_csv(images, folder / "images.csv")
    by_study = {shown(study.study.name): study.images for study in studies}
    page = worklist_page(worklist, by_study, shown(answerer.describe()), shown(source))
    (folder / "worklist.html").write_text(page, encoding="utf-8")
    return worklist


def _summary(worklist: pd.DataFrame, images: int, not_read: int, seconds: float, loading: float) -> dict:
    counts = worklist["status"].value_counts()
    return {
        "studies": len(worklist),
        **{status.replace(" ", "_"): int(counts.get(status, 0)) for status in STATUSES},
        "files": images,
        "files_not_read": not_read,
        "seconds": round(seconds, 1),
        "seconds_loading_models": round(loading, 1),
    }


DEFAULT_DRAWING = {"colormap": "jet", "alpha": 0.45}  # the workflow's cam.colormap and cam.alpha defaults
RUN_CONFIGURATION = Path("report") / "config.yaml"  # a run's configuration, in its results/ beside models/


def check_drawing(colormap: str | None, alpha: float | None, colormap_key: str, alpha_key: str) -> None:
    """:class:`InputError` naming the key where ``colormap`` is no matplotlib colour map or ``alpha`` not in [0, 1]."""
    from ..config import is_colormap

    if colormap is not None and not (isinstance(colormap, str) and is_colormap(colormap)):
        raise InputError(f"{colormap_key} {colormap!r}: not a matplotlib colour map name")
    if alpha is not None and not (isinstance(alpha, int | float) and 0 <= alpha <= 1):
        raise InputError(f"{alpha_key} {alpha!r}: not an opacity in [0, 1]")


def drawing_settings(model_path: Path, colormap: str | None, alpha: float | None) -> tuple[str, float]:
    """The overlays' colour map and opacity: those given, else the ``cam.colormap`` and ``cam.alpha`` of the run
    that trained ``model_path`` (``results/models/<model>/model.pt`` -> ``results/report/config.yaml``, as the
    workflow records it), else the workflow's defaults."""
    import yaml

    path = model_path.parent.parent.parent / RUN_CONFIGURATION
    run = {}
    if path.is_file():
        try:
            run = (yaml.safe_load(path.read_text()) or {}).get("cam") or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError) as error:
            raise InputError(f"{shown(str(path))}: the run's configuration cannot be read ({error})") from None
        check_drawing(
            run.get("colormap"), run.get("alpha"), f"{shown(str(path))}: cam.colormap", f"{shown(str(path))}: cam.alpha"
        )
    chosen = {**DEFAULT_DRAWING, **{k: run[k] for k in DEFAULT_DRAWING if run.get(k) is not None}}
    return colormap or chosen["colormap"], chosen["alpha"] if alpha is None else alpha


def make_worklist(
    source: str,
    models: list[str],
    out_dir: str,
    root: str | None = None,
    operating_point: str | None = None,
    threshold: float | None = None,
    batch_size: int = 32,
    threads: int | None = None,
    colormap: str | None = None,
    alpha: float | None = None,
    progress: bool | None = None,
) -> int:
    """Write the worklist of the studies in ``source`` (a folder or CSV) to ``out_dir``; return how many studies are
    not ``ok`` (0: every file was read and every study predicted). The overlays use ``colormap`` and ``alpha`` where
    given, else the model's run's ``cam.colormap`` and ``cam.alpha`` (:func:`drawing_settings`)."""
    started = time.perf_counter()
    source_path, out_path = Path(source), Path(out_dir)
    if batch_size < 1:
        raise InputError(f"--batch-size {batch_size}: must be at least 1")
    if threads is not None and threads < 1:
        raise InputError(f"--threads {threads}: must be at least 1")
    if threshold is not None and not 0 <= threshold <= 1:
        raise InputError(f"--threshold {threshold}: not a probability in [0, 1]")
    check_drawing(colormap, alpha, "--colormap", "--alpha")
    check_output_folder(out_path, source_path, Path(root) if root is not None else None)
    with OutputFolder(out_path) as output:
        found, hidden = find_studies(source_path, root, out_path)
        import torch

        from ..inference import choose_device

        if threads:
            torch.set_num_threads(threads)
        device = choose_device()
        answerer = load_answerer(models, device, operating_point, threshold)
        colormap, alpha = drawing_settings(answerer.members[0].path, colormap, alpha)
        studies = _study_results(found, source_path)
        loaded = time.perf_counter()
        predictor = Predictor(answerer, device, batch_size, output.staging / OVERLAYS, colormap, alpha)
        _predict_all(studies, predictor, batch_size, max(1, threads or torch.get_num_threads()), progress)
        worklist = _write(output.staging, studies, answerer, source)
        images = [image for study in studies for image in study.images]
        not_read = sum(bool(image.reason) for image in images)
        summary = _summary(worklist, len(images), not_read, time.perf_counter() - loaded, loaded - started)
        record = {"input": shown(str(source)), "models": shown(answerer.describe()), **summary}
        output.publish({"finished": time.strftime("%Y-%m-%d %H:%M:%S"), **record, "hidden_entries_skipped": hidden})
    seconds = summary["seconds"] or float("nan")
    log.info(
        "%s: %d studies (%d ok, %d incomplete, %d not predicted), %d files (%d not read%s) in %.1f s (%.2f studies/s, "
        "%.1f files/s; %.1f s loading the models); %s",
        shown(str(out_path / "worklist.csv")),
        summary["studies"],
        summary["ok"],
        summary["incomplete"],
        summary["not_predicted"],
        summary["files"],
        not_read,
        f", {hidden} hidden skipped" if hidden else "",
        summary["seconds"],
        summary["studies"] / seconds,
        summary["files"] / seconds,
        summary["seconds_loading_models"],
        record["models"],
    )
    return summary["studies"] - summary["ok"]
