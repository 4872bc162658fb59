"""Property-based tests (hypothesis, derandomized: the same examples on every run, so CI is stable).

- The prediction table reader: a generated valid study table gives the same metrics as the plain computation on the
  same rows; one bad cell put anywhere is refused naming its row (as a spreadsheet numbers it) and its column.
- The radiograph reader: random truncations and byte flips of PNG, JPEG and DICOM files give a radiograph or a
  reason, never another exception.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from murad import synthetic_dicom
from murad.errors import InputError
from murad.metrics import study_metrics
from murad.prediction_tables import REQUIRED_STUDY_COLUMNS, read_study_table
from murad.radiographs import RadiographError, read_radiograph

TABLE_EXAMPLES = 150
BAD_CELL_EXAMPLES = 500
FILE_EXAMPLES = 300  # per file kind
FUZZ = settings(derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
BODY_PARTS = ("elbow", "finger", "forearm", "hand", "humerus", "shoulder", "wrist")


@st.composite
def study_tables(draw) -> pd.DataFrame:
    """A valid study table: 1-40 studies, each label 0/1, a probability in [0, 1], a body part, and an extra
    column, in a random column order."""
    n = draw(st.integers(1, 40))
    probabilities = draw(st.lists(st.floats(0, 1, allow_nan=False), min_size=n, max_size=n))
    table = pd.DataFrame(
        {
            "study": [f"MURA-v1.1/valid/XR_X/patient{i:05d}/study1/" for i in range(n)],
            "body_part": draw(st.lists(st.sampled_from(BODY_PARTS), min_size=n, max_size=n)),
            "label": draw(st.lists(st.sampled_from([0, 1]), min_size=n, max_size=n)),
            "prob": probabilities,
            "patient": [f"patient{i:05d}" for i in range(n)],
        }
    )
    return table[draw(st.permutations(list(table.columns)))]


def written(table: pd.DataFrame, path, crlf: bool = False) -> None:
    text = table.to_csv(index=False, lineterminator="\r\n" if crlf else "\n", float_format="%.17g")
    path.write_text(text)


@settings(FUZZ, max_examples=TABLE_EXAMPLES)
@given(table=study_tables(), crlf=st.booleans())
def test_a_valid_table_gives_the_metrics_of_the_plain_computation(tmp_path, table, crlf):
    path = tmp_path / "studies.csv"
    written(table, path, crlf)
    read = read_study_table(path)
    assert list(read.columns) == list(table.columns)
    expected = study_metrics(table, repetitions=20, seed=1)
    pd.testing.assert_frame_equal(study_metrics(read, repetitions=20, seed=1), expected)


BAD_CELLS = {
    "study": ["", "   "],
    "body_part": [""],
    "label": ["2", "-1", "0.5", "yes", "", "nan", "abnormal"],
    "prob": ["nan", "NaN", "abc", "1.7", "-0.1", "", "inf", "-inf", "1e3", "0,5"],
}


@settings(FUZZ, max_examples=BAD_CELL_EXAMPLES)
@given(table=study_tables(), data=st.data())
def test_one_bad_cell_is_refused_naming_its_row_and_column(tmp_path, table, data):
    column = data.draw(st.sampled_from(REQUIRED_STUDY_COLUMNS))
    value = data.draw(st.sampled_from(BAD_CELLS[column]))
    row = data.draw(st.integers(0, len(table) - 1))
    rows = [list(map(str, table.columns))] + [
        [repr(v) if isinstance(v, float) else str(v) for v in record] for record in table.itertuples(index=False)
    ]
    rows[row + 1][list(table.columns).index(column)] = value
    path = tmp_path / "bad.csv"
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    with pytest.raises(InputError) as refused:
        read_study_table(path)
    assert str(refused.value).startswith(f"{path}: row {row + 2}, column {column}: "), str(refused.value)
    assert "\n" not in str(refused.value)


@settings(FUZZ, max_examples=60)
@given(table=study_tables(), data=st.data())
def test_a_study_listed_twice_is_refused_naming_both_rows(tmp_path, table, data):
    if len(table) < 2:
        return
    first, second = sorted(data.draw(st.lists(st.integers(0, len(table) - 1), min_size=2, max_size=2, unique=True)))
    table = table.copy()
    table.loc[second, "study"] = table.loc[first, "study"]
    written(table, tmp_path / "twice.csv")
    with pytest.raises(InputError, match=rf"row {second + 2}, column study: .* listed already in row {first + 2}$"):
        read_study_table(tmp_path / "twice.csv")


# ------------------------------------------------------------------------------------------ radiograph files


def _grey() -> np.ndarray:
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:48, 0:40]
    return np.clip(60 + 2 * x + y + rng.normal(0, 8, (48, 40)), 0, 255).astype(np.uint8)


def _file_bytes(kind: str, tmp_path_factory) -> bytes:
    grey = _grey()
    if kind in ("png", "jpeg"):
        buffer = io.BytesIO()
        Image.fromarray(grey).save(buffer, format="PNG" if kind == "png" else "JPEG", quality=90)
        return buffer.getvalue()
    path = tmp_path_factory.mktemp("dicom") / "file.dcm"
    synthetic_dicom.write_dicom(grey, path, kind)
    return path.read_bytes()


KINDS = ("png", "jpeg", "uncompressed_8bit", "monochrome1_12bit", "rle", "jpeg2000", "jpeg_baseline")


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> dict[str, bytes]:
    return {kind: _file_bytes(kind, tmp_path_factory) for kind in KINDS}


@pytest.mark.parametrize("kind", KINDS)
def test_damaged_files_give_a_radiograph_or_a_reason_never_a_traceback(tmp_path, originals, kind):
    data = originals[kind]

    @settings(FUZZ, max_examples=FILE_EXAMPLES)
    @given(
        cut=st.one_of(st.none(), st.integers(0, len(data))),  # None: the whole file, its bytes flipped
        flips=st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(1, 255)), max_size=6),
    )
    def damaged(cut, flips):
        damaged_bytes = bytearray(data)
        for position, mask in flips:
            damaged_bytes[position] ^= mask
        path = tmp_path / "damaged"
        path.write_bytes(bytes(damaged_bytes if cut is None else damaged_bytes[:cut]))
        try:
            radiograph = read_radiograph(path)
        except RadiographError as error:
            assert str(error) and "\n" not in str(error)
        else:
            assert radiograph.pixels.dtype == np.uint8 and radiograph.pixels.ndim == 2

    damaged()


# ------------------------------------------------------------------------------ any file and folder names


NAME_EXAMPLES = 25
NAMES = st.binary(min_size=1, max_size=24).filter(lambda name: b"/" not in name and b"\0" not in name)


@pytest.fixture(scope="module")
def untrained_model(tmp_path_factory):
    from .conftest import fake_trained_model

    path = tmp_path_factory.mktemp("model") / "model.pt"
    fake_trained_model(path, "resnet18", 32)
    return path


@st.composite
def study_trees(draw) -> dict[bytes, dict[bytes, bool]]:
    """1-3 study folders, each with 1-3 files; every name any bytes a Linux file system takes; each file a PNG
    (True) or not an image (False)."""
    folders = draw(st.lists(NAMES.filter(lambda n: n not in (b".", b"..")), min_size=1, max_size=3, unique=True))
    files = st.dictionaries(NAMES.filter(lambda n: n not in (b".", b"..")), st.booleans(), min_size=1, max_size=3)
    return {folder: draw(files) for folder in folders}


def test_any_file_and_folder_names_the_run_completes_and_every_file_has_its_row(tmp_path_factory, untrained_model):
    import os

    from murad.names import original
    from murad.worklist.build import make_worklist

    png = io.BytesIO()
    Image.fromarray(_grey()).save(png, format="PNG")

    @settings(FUZZ, max_examples=NAME_EXAMPLES)
    @given(tree=study_trees())
    def run(tree):
        root = tmp_path_factory.mktemp("names")
        source = os.path.join(os.fsencode(root), b"in")
        expected = {}
        for folder, files in tree.items():
            os.makedirs(os.path.join(source, folder))
            for name, is_image in files.items():
                with open(os.path.join(source, folder, name), "wb") as handle:
                    handle.write(png.getvalue() if is_image else b"not an image\n")
                if not folder.startswith(b".") and not name.startswith(b"."):  # hidden names are skipped
                    expected[os.path.join(folder, name)] = "ok" if is_image else "not read"
        out = root / "out"
        if not expected:
            return
        not_ok = make_worklist(os.fsdecode(source), [str(untrained_model)], str(out), threads=1, progress=False)
        images = pd.read_csv(out / "images.csv", keep_default_na=False, dtype=str)
        written = {
            os.path.join(original(study), original(file)): status
            for study, file, status in images[["study", "file", "status"]].itertuples(index=False)
        }
        assert written == expected
        visible = {
            f: [is_image for n, is_image in files.items() if not n.startswith(b".")] for f, files in tree.items()
        }
        assert not_ok == sum(not f.startswith(b".") and not (v and all(v)) for f, v in visible.items())
        studies = pd.read_csv(out / "worklist.csv", keep_default_na=False, dtype=str)["study"].map(original)
        assert sorted(studies) == sorted(f for f in tree if not f.startswith(b"."))

    run()
