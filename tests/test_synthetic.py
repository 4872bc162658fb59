"""The synthetic MURA-v1.1 follows the real release's on-disk format, read here with nothing but the csv module."""

from __future__ import annotations

import csv
import filecmp
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from murad.mura import BODY_PARTS, paper_table2
from murad.synthetic import LESION_KINDS, SyntheticSettings, generate, plan_dataset, study_counts

from .conftest import SMALL

IMAGE = re.compile(
    r"^MURA-v1\.1/(train|valid)/XR_(ELBOW|FINGER|FOREARM|HAND|HUMERUS|SHOULDER|WRIST)/patient(\d{5})/"
    r"study(\d+)_(positive|negative)/image(\d+)\.png$"
)
STUDY = re.compile(
    r"^MURA-v1\.1/(train|valid)/XR_(ELBOW|FINGER|FOREARM|HAND|HUMERUS|SHOULDER|WRIST)/patient(\d{5})/"
    r"study(\d+)_(positive|negative)/$"
)


def read_rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


@pytest.fixture(scope="module")
def tree(small_mura):
    images, studies = {}, {}
    for split in ("train", "valid"):
        images[split] = read_rows(small_mura / f"MURA-v1.1/{split}_image_paths.csv")
        studies[split] = read_rows(small_mura / f"MURA-v1.1/{split}_labeled_studies.csv")
    return small_mura, images, studies


def test_image_lists_are_headerless_relative_paths_in_mura_layout(tree):
    root, images, _ = tree
    for split, rows in images.items():
        assert rows, split
        for row in rows:
            assert len(row) == 1
            match = IMAGE.match(row[0])
            assert match, row[0]
            assert match[1] == split
            assert (root / row[0]).is_file()


def test_study_lists_have_trailing_slash_and_labels_matching_folder_names(tree):
    _, _, studies = tree
    for split, rows in studies.items():
        for path, label in rows:
            match = STUDY.match(path)
            assert match, path
            assert match[1] == split
            assert label in ("0", "1")
            assert (label == "1") == (match[5] == "positive")


def test_studies_images_and_patients_follow_mura_structure(tree):
    root, images, studies = tree
    patients = {}
    for split in ("train", "valid"):
        labelled = {path for path, _ in studies[split]}
        per_study = Counter(row[0].rsplit("/", 1)[0] + "/" for row in images[split])
        assert set(per_study) == labelled  # every image in a labelled study, every study has images
        assert all(1 <= n <= 4 for n in per_study.values())
        studies_of_patient = defaultdict(set)
        for path in labelled:
            studies_of_patient[path.split("/")[3]].add(path)
        assert all(1 <= len(s) <= 3 for s in studies_of_patient.values())
        patients[split] = set(studies_of_patient)
        # every study folder on disk is listed, and nothing else lies in the split folder
        on_disk = {str(p.relative_to(root)) + "/" for p in (root / "MURA-v1.1" / split).glob("XR_*/patient*/study*")}
        assert on_disk == labelled
    assert not patients["train"] & patients["valid"]


def test_images_are_decodable_mostly_grayscale_with_varied_sizes(tree):
    root, images, _ = tree
    modes, sides = Counter(), []
    for split in images:
        for (path,) in images[split]:
            with Image.open(root / path) as picture:
                picture.load()
                modes[picture.mode] += 1
                sides.extend(picture.size)
    assert set(modes) == {"L", "RGB"}
    assert modes["L"] > 10 * modes["RGB"]
    assert 90 <= min(sides) < 150 and 400 < max(sides) <= 512


def test_lesion_boxes_cover_abnormal_studies_only_and_stay_inside_images(tree):
    root, images, studies = tree
    rows = read_rows(root / "lesions.csv")
    assert rows[0] == ["path", "kind", "x0", "y0", "x1", "y1", "width", "height"]
    assert not (root / "MURA-v1.1" / "lesions.csv").exists()
    labels = {path: label for split in studies for path, label in studies[split]}
    shown = Counter()
    fractions, kinds = [], Counter()
    for path, kind, *numbers in rows[1:]:
        x0, y0, x1, y1, width, height = map(int, numbers)
        study = path.rsplit("/", 1)[0] + "/"
        assert labels[study] == "1", path
        assert kind in LESION_KINDS
        with Image.open(root / path) as picture:
            assert picture.size == (width, height)
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
        fractions.append((x1 - x0) * (y1 - y0) / (width * height))
        shown[study] += 1
        kinds[kind] += 1
    abnormal = {path for path, label in labels.items() if label == "1"}
    assert set(shown) == abnormal  # every abnormal study shows its abnormality in at least one view
    all_views = Counter(row[0].rsplit("/", 1)[0] + "/" for split in images for row in images[split])
    assert any(shown[s] < all_views[s] for s in abnormal)  # ... but not necessarily in all of them
    assert set(kinds) == set(LESION_KINDS)
    assert np.mean(fractions) <= 0.15  # CAM pointing must not be made easy by large boxes


def test_lesions_change_the_pixels_inside_their_box(tree):
    """The abnormality is there to see: the box of a lesion differs from the same plan drawn without it."""
    from murad.synthetic import plan_dataset, render_image

    _, images = plan_dataset(SMALL)
    plans = [p for p in images["train"] if p.lesion][:12]
    for plan in plans:
        lesioned, box = render_image(plan, SMALL)
        assert box is not None
        x0, y0, x1, y1 = box
        inside = lesioned[y0:y1, x0:x1].astype(float)
        # within the box the lesion is a strong local structure: bright metal, a dark gap or dark holes
        assert inside.std() > 12, plan


def test_body_part_and_label_balance_follows_table2():
    settings = SyntheticSettings(train_studies=2000, valid_studies=600)
    studies, _ = plan_dataset(settings)
    table = paper_table2().set_index("body_part")
    for split, total in (("train", 2000), ("valid", 600)):
        found = Counter((s.split("/")[2][3:].lower(), label) for s, label in studies if s.split("/")[1] == split)
        assert sum(found.values()) == total
        expected_total = table[[f"{split}_normal", f"{split}_abnormal"]].to_numpy().sum()
        for part in BODY_PARTS:
            for label, name in ((0, "normal"), (1, "abnormal")):
                expected = table.loc[part, f"{split}_{name}"] / expected_total * total
                assert abs(found[(part, label)] - expected) <= max(2.0, 0.02 * expected), (split, part, name)
    small = study_counts("valid", 28)
    assert min(small.values()) == 2 and sum(small.values()) == 28


def test_same_seed_gives_identical_files_and_another_seed_differs(tmp_path):
    tiny = SyntheticSettings(seed=11, train_studies=28, valid_studies=28)
    generate(tmp_path / "a", tiny)
    generate(tmp_path / "b", tiny, workers=2)
    generate(tmp_path / "c", SyntheticSettings(seed=12, train_studies=28, valid_studies=28))
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", files, shallow=False)
    assert not mismatch and not errors
    assert (tmp_path / "a/lesions.csv").read_bytes() != (tmp_path / "c/lesions.csv").read_bytes()


def test_regenerating_replaces_the_tree_whole(tmp_path):
    tiny = SyntheticSettings(seed=1, train_studies=28, valid_studies=28)
    generate(tmp_path, tiny)
    stray = tmp_path / "MURA-v1.1/train/XR_HAND/patient99999"
    stray.mkdir(parents=True)
    generate(tmp_path, tiny)
    assert not stray.exists()
    assert not list(tmp_path.glob(".*partial"))
