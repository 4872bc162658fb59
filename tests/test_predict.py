"""`murad predict`: the worklist of new studies from PNG, JPEG and DICOM, checked against the workflow's own
predictions of the same images, file by file when files are bad, and in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from murad import synthetic_dicom
from murad.calibration import apply_temperature
from murad.errors import InputError
from murad.operating_points import read_operating_points
from murad.radiographs import read_radiograph
from murad.worklist.build import make_worklist

from .conftest import PIPELINE_MODELS

MURAD = Path(sys.executable).with_name("murad")
MODEL = PIPELINE_MODELS[1]  # resnet34: the tiny pipeline's mobilenet_v2 gives every image the same probability
TOLERANCE = 1e-5  # between a batch of the workflow's whole-split predict job and a worklist's group of studies
JPEG_TOLERANCE = 0.02  # JPEG baseline is lossy, and pylibjpeg's libjpeg and Pillow's libjpeg-turbo round apart


def murad_predict(*args, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(MURAD), "predict", *map(str, args)], capture_output=True, text=True, timeout=timeout)


def valid_folder(data_root: Path) -> Path:
    return data_root / "MURA-v1.1/valid"


@pytest.fixture(scope="module")
def valid_worklist(pipeline, small_mura, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("worklist") / "out"
    result = murad_predict(valid_folder(small_mura), "--model", pipeline / f"results/models/{MODEL}", "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_the_worklist_of_mura_valid_gives_the_workflows_probabilities_calibrated_and_called(pipeline, valid_worklist):
    images = pd.read_csv(valid_worklist / "images.csv")
    expected = pd.read_csv(pipeline / f"results/predictions/{MODEL}/images.csv")
    images["path"] = "MURA-v1.1/valid/" + images["study"] + "/" + images["file"]
    merged = expected.merge(images, on="path", validate="one_to_one")
    assert len(merged) == len(expected) == len(images)
    assert np.abs(merged["prob"] - merged["probability"]).max() <= TOLERANCE

    worklist = pd.read_csv(valid_worklist / "worklist.csv")
    studies = pd.read_csv(pipeline / f"results/predictions/{MODEL}/studies.csv")
    studies["study"] = studies["study"].str.removeprefix("MURA-v1.1/valid/").str.rstrip("/")
    saved = read_operating_points(pipeline / f"results/models/{MODEL}/operating_points.json")
    cut = saved.operating_points["best_kappa"]["threshold"]
    both = studies.merge(worklist, on="study", validate="one_to_one", suffixes=("_workflow", ""))
    assert len(both) == len(studies) == len(worklist) == 30
    assert saved.temperature is not None
    calibrated = apply_temperature(both["prob"].to_numpy(), saved.temperature)
    assert np.abs(calibrated - both["probability"]).max() <= TOLERANCE
    assert (both["abnormal"] == (both["prob"] > cut).astype(int)).all()
    assert np.allclose(both["threshold"], apply_temperature(np.array([cut]), saved.temperature)[0], atol=1e-6)
    assert (both["body_part_workflow"] == both["body_part"]).all()
    assert worklist["rank"].tolist() == list(range(1, 31)) and worklist["probability"].is_monotonic_decreasing
    assert set(worklist["status"]) == {"ok"} and set(worklist["operating_point"]) == {"best_kappa"}
    assert (worklist["n_images"] == worklist["n_read"]).all() and worklist["n_images"].sum() == len(expected)


def test_an_ensembles_folder_gives_the_ensembles_probabilities(pipeline, small_mura, tmp_path):
    for name in ("ensemble_top2_mean", "ensemble_best_per_body_part"):
        out = tmp_path / name
        result = murad_predict(
            valid_folder(small_mura), "--model", pipeline / f"results/ensembles/{name}", "--out", out
        )
        assert result.returncode == 0, result.stderr[-3000:]
        worklist = pd.read_csv(out / "worklist.csv")
        studies = pd.read_csv(pipeline / f"results/ensembles/{name}/studies.csv")
        studies["study"] = studies["study"].str.removeprefix("MURA-v1.1/valid/").str.rstrip("/")
        both = studies.merge(worklist, on="study", validate="one_to_one", suffixes=("_workflow", ""))
        assert len(both) == 30
        assert np.abs(both["prob"] - both["probability"]).max() <= TOLERANCE
        assert (both["abnormal"] == both["pred"]).all()  # uncalibrated, at 0.5, as the workflow evaluates it
        assert set(worklist["operating_point"]) == {"default"}
        members = pd.read_csv(pipeline / "results/ensembles/members.csv").query("ensemble == @name")
        if name == "ensemble_best_per_body_part":
            answered = dict(zip(members["scope"], members["model"], strict=True))
            assert (worklist["model"] == worklist["body_part"].map(answered)).all()
        else:
            assert set(worklist["model"]) == {", ".join(members["model"])}


def test_a_csv_of_images_gives_what_its_folder_gives(pipeline, small_mura, valid_worklist, tmp_path):
    out = tmp_path / "from_csv"
    table = pipeline / "results/split/valid.csv"
    result = murad_predict(table, "--root", small_mura, "--model", pipeline / f"results/models/{MODEL}", "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    from_csv = pd.read_csv(out / "worklist.csv")
    from_folder = pd.read_csv(valid_worklist / "worklist.csv")
    from_csv["study"] = from_csv["study"].str.removeprefix("MURA-v1.1/valid/").str.rstrip("/")
    assert from_csv[["study", "probability", "abnormal", "body_part"]].equals(
        from_folder[["study", "probability", "abnormal", "body_part"]]
    )


# ------------------------------------------------------------------------------------------------------- DICOM


def picked_images(small_mura: Path, studies: int = 3) -> dict[str, list[Path]]:
    """The images of the first ``studies`` MURA valid studies, by study folder (relative to valid)."""
    folder = valid_folder(small_mura)
    leaves = sorted({p.parent for p in folder.rglob("*.png")})[:studies]
    return {leaf.relative_to(folder).as_posix(): sorted(leaf.glob("*.png")) for leaf in leaves}


def test_dicom_in_every_encoding_gives_the_probabilities_of_the_same_png(pipeline, small_mura, tmp_path):
    picked = picked_images(small_mura)
    model = pipeline / f"results/models/{MODEL}"
    results = {}
    for variant in ("png", *synthetic_dicom.ENCODINGS):
        source = tmp_path / variant
        for number, (study, files) in enumerate(picked.items()):
            body_part = study.split("/")[0].removeprefix("XR_").lower()
            target = source / f"patient{number}/study1"  # no XR_ folder: the body part comes from the DICOM header
            target.mkdir(parents=True)
            for index, png in enumerate(files):
                if variant == "png":
                    shutil.copy(png, target / png.name)
                else:
                    grey = read_radiograph(png).pixels
                    name = f"IMG{index:04d}" if variant == "uncompressed_8bit" else f"{png.stem}.dcm"
                    synthetic_dicom.write_dicom(grey, target / name, variant, body_part=body_part)
        out = tmp_path / f"out_{variant}"
        assert make_worklist(str(source), [str(model)], str(out), threads=1, progress=False) == 0
        results[variant] = (pd.read_csv(out / "images.csv"), pd.read_csv(out / "worklist.csv"))
    png_images, png_worklist = results["png"]
    assert len(png_images) == sum(len(files) for files in picked.values())
    assert png_worklist["body_part"].isna().all()  # PNG files carry no body part
    assert png_images["probability"].nunique() > len(png_images) // 2  # the model tells the images apart
    for variant in synthetic_dicom.ENCODINGS:
        images, worklist = results[variant]
        assert set(images["kind"]) == {"DICOM"} and set(images["status"]) == {"ok"}
        difference = np.abs(images["probability"] - png_images["probability"]).max()
        if variant in synthetic_dicom.LOSSY:
            assert difference <= JPEG_TOLERANCE, variant
        else:
            assert difference == 0, variant  # the same pixels: exactly the same probabilities
        parts = sorted(study.split("/")[0].removeprefix("XR_").lower() for study in picked)
        assert sorted(worklist["body_part"]) == parts


def test_a_12_bit_picture_stored_in_16_bits_without_a_window_gives_the_probabilities_of_its_png(
    pipeline, small_mura, tmp_path
):
    """BitsStored 16, values 0-4095, no window: read over the bits it uses (12), as the PNG's grey levels; read over
    16 bits it would show 17 grey levels and be flagged nearly flat."""
    from murad.radiographs import FLAT_LEVELS

    files = next(iter(picked_images(small_mura, 1).values()))
    for folder in ("png", "dicom"):
        (tmp_path / folder / "study1").mkdir(parents=True)
    for png in files:
        shutil.copy(png, tmp_path / "png/study1" / png.name)
        grey = read_radiograph(png).pixels
        dataset = synthetic_dicom.encoded(grey, "uncompressed_8bit")
        twelve = np.rint(grey.astype(np.float64) * 4095 / 255).astype(np.uint16)
        dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 16, 15
        dataset.PixelData = twelve.tobytes()
        dataset.save_as(tmp_path / "dicom/study1" / f"{png.stem}.dcm", enforce_file_format=True)
        assert len(np.unique(np.rint(twelve * (255 / 65535)))) < FLAT_LEVELS  # what 16 bits would show
    model = str(pipeline / f"results/models/{MODEL}")
    tables = {}
    for folder in ("png", "dicom"):
        assert make_worklist(str(tmp_path / folder), [model], str(tmp_path / f"out_{folder}"), progress=False) == 0
        tables[folder] = pd.read_csv(tmp_path / f"out_{folder}/images.csv")
    assert set(tables["dicom"]["kind"]) == {"DICOM"} and set(tables["dicom"]["status"]) == {"ok"}
    assert tables["dicom"]["probability"].tolist() == tables["png"]["probability"].tolist()


def bad_input(small_mura: Path, root: Path) -> Path:
    """Six studies: two good, one with a truncated DICOM beside a good image, one with a multi-frame file beside a
    good image, one holding only a text file, one empty."""
    picked = list(picked_images(small_mura, 2).values())
    grey = read_radiograph(picked[0][0]).pixels
    for name, files in (("good_a", picked[0]), ("good_b", picked[1])):
        (root / name).mkdir(parents=True)
        for file in files:
            shutil.copy(file, root / name / file.name)
    (root / "truncated").mkdir()
    shutil.copy(picked[0][0], root / "truncated/whole.png")
    synthetic_dicom.write_dicom(grey, root / "truncated/cut.dcm", "rle")
    data = (root / "truncated/cut.dcm").read_bytes()
    (root / "truncated/cut.dcm").write_bytes(data[: len(data) // 2])
    (root / "multiframe").mkdir()
    shutil.copy(picked[0][0], root / "multiframe/whole.png")
    synthetic_dicom.multi_frame(grey, root / "multiframe/cine.dcm")
    (root / "text_only").mkdir()
    (root / "text_only/notes.png").write_text("not an image, whatever its name\n")
    (root / "empty").mkdir()
    return root


@pytest.fixture(scope="module")
def bad_worklist(pipeline, small_mura, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    base = tmp_path_factory.mktemp("bad_input")
    source = bad_input(small_mura, base / "studies")
    out = base / "out"
    return out, murad_predict(source, "--model", pipeline / f"results/models/{MODEL}", "--out", out)


def test_bad_files_flag_their_study_naming_the_file_and_the_others_are_predicted(bad_worklist):
    out, result = bad_worklist
    assert result.returncode == 3, result.stderr[-3000:]  # written, but not every study ok
    assert "Traceback" not in result.stderr
    worklist = pd.read_csv(out / "worklist.csv", keep_default_na=False).set_index("study")
    assert worklist.loc[["good_a", "good_b"], "status"].tolist() == ["ok", "ok"]
    assert worklist.loc[["good_a", "good_b"], "reason"].tolist() == ["", ""]
    for study, file, why in (
        ("truncated", "cut.dcm", "truncated DICOM"),
        ("multiframe", "cine.dcm", "multi-frame DICOM (3 frames)"),
    ):
        row = worklist.loc[study]
        assert row["status"] == "incomplete" and row["n_images"] == 2 and row["n_read"] == 1
        assert row["probability"] != "" and row["rank"] != ""  # predicted on what was read
        assert "predicted on 1 of 2 images" in row["reason"] and f"{file}: " in row["reason"] and why in row["reason"]
    text = worklist.loc["text_only"]
    assert text["status"] == "not predicted" and text["probability"] == "" and text["rank"] == ""
    assert "no image could be read" in text["reason"] and "notes.png: not a PNG, JPEG or DICOM file" in text["reason"]
    empty = worklist.loc["empty"]
    assert empty["status"] == "not predicted" and empty["n_images"] == 0 and "no files in the study" in empty["reason"]
    ranked = worklist[worklist["rank"] != ""]
    assert sorted(ranked.index) == ["good_a", "good_b", "multiframe", "truncated"]
    assert list(worklist.index[-2:]) == ["empty", "text_only"]  # unranked, after the ranked ones
    images = pd.read_csv(out / "images.csv", keep_default_na=False)
    assert (images["status"] == "not read").sum() == 3 and (images["reason"] != "").sum() == 3


def test_the_worklist_page_shows_every_image_and_heat_map_in_headless_chromium(bad_worklist, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        if os.environ.get("MURAD_CI"):
            pytest.fail("chromium is not installed (.ci/run installs it)")
        pytest.skip("chromium not installed: apt-get install chromium")
    out, _ = bad_worklist
    page = out / "worklist.html"
    html = page.read_text()
    assert "<script" not in html  # a page to read from disk: nothing runs, nothing is fetched
    checked = out / "checked.html"  # beside the page, so its relative image paths resolve the same
    script = """<script>window.addEventListener("load", function () {
      const shown = Array.from(document.images).map((i) => [i.getAttribute("src"), i.complete ? i.naturalWidth : 0]);
      const out = document.createElement("pre"); out.id = "murad-check"; out.textContent = JSON.stringify(shown);
      document.body.appendChild(out);
    });</script>"""
    checked.write_text(html.replace("</body>", script + "</body>"))
    try:
        dom = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
             "--virtual-time-budget=20000", "--dump-dom", checked.as_uri()],
            capture_output=True, text=True, timeout=300,
        ).stdout  # fmt: skip
    finally:
        checked.unlink()
    found = re.search(r'<pre id="murad-check">(.*?)</pre>', dom, re.S)
    assert found, "the worklist page did not load in Chromium"
    shown = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    images = pd.read_csv(out / "images.csv", keep_default_na=False)
    read = images[images["status"] == "ok"]
    assert len(shown) == 2 * len(read)  # each read image and its heat map
    assert all(width > 0 for _, width in shown), [src for src, width in shown if not width]
    assert {src for src, _ in shown} >= set(read["overlay"])
    text = re.sub(r"<[^>]+>", " ", dom)
    assert "cine.dcm: a multi-frame DICOM (3 frames)" in text and "notes.png: not a PNG, JPEG or DICOM file" in text


# -------------------------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "case, message",
    [
        ("no_input", r"missing: no such folder or CSV file"),
        ("no_model", r"nothing\.pt: no such model file"),
        ("text_model", r"model\.pt: not a murad model\.pt \("),
        ("truncated_model", r"model\.pt: not a murad model\.pt \("),
        ("foreign_out", r"foreign: holds worklist\.csv, which murad did not write \(no murad-worklist\.json\); name "
                        r"another folder"),
        ("out_inside_input", r"out: the output folder lies inside the input \(.*studies\); name a folder apart"),
        ("csv_without_study", r"images\.csv: no 'study' column"),
        ("unknown_operating_point", r"operating_points\.json: no operating point 'nonsense' \(it has best_kappa"),
        ("threshold_outside", r"--threshold 1\.5: not a probability in \[0, 1\]"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_in_one_line_before_anything_is_written(pipeline, small_mura, tmp_path, case, message):
    model = pipeline / f"results/models/{MODEL}"
    source, out, extra = valid_folder(small_mura), tmp_path / "out", []
    if case == "no_input":
        source = tmp_path / "missing"
    elif case == "no_model":
        model = tmp_path / "nothing.pt"
    elif case in ("text_model", "truncated_model"):
        bad = tmp_path / "bad_model/model.pt"
        bad.parent.mkdir()
        data = (model / "model.pt").read_bytes()
        bad.write_bytes(b"not a model\n" if case == "text_model" else data[: len(data) // 2])
        model = bad
    elif case == "foreign_out":
        out = tmp_path / "foreign"
        out.mkdir()
        (out / "thesis.tex").write_text("keep me\n")
        (out / "worklist.csv").write_text("my own list\n")
    elif case == "out_inside_input":
        source = tmp_path / "studies"
        shutil.copytree(valid_folder(small_mura) / "XR_ELBOW", source)
        out = source / "out"
    elif case == "csv_without_study":
        source = tmp_path / "images.csv"
        source.write_text("path\nMURA-v1.1/valid/XR_ELBOW/patient1/study1_positive/image1.png\n")
    elif case == "unknown_operating_point":
        extra = ["--operating-point", "nonsense"]
    elif case == "threshold_outside":
        extra = ["--threshold", "1.5"]
    before = sorted(tmp_path.rglob("*"))
    result = murad_predict(source, "--model", model, "--out", out, *extra)
    assert result.returncode == 1, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(message, lines[0]), result.stderr
    assert sorted(tmp_path.rglob("*")) == before  # nothing written, nothing removed


def test_operating_points_belong_to_the_model_pt_they_were_chosen_for(pipeline, small_mura, tmp_path):
    """Another model's model.pt copied beside them is refused naming both files; a file from before the digest was
    recorded is used as it is, with one warning line."""
    source = tmp_path / "studies"
    shutil.copytree(valid_folder(small_mura) / "XR_ELBOW", source)
    mixed = tmp_path / "mixed"
    shutil.copytree(pipeline / f"results/models/{PIPELINE_MODELS[0]}", mixed)
    shutil.copy(pipeline / f"results/models/{MODEL}/model.pt", mixed / "model.pt")
    before = sorted(tmp_path.rglob("*"))
    result = murad_predict(source, "--model", mixed, "--out", tmp_path / "out")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(
        rf"{mixed}/operating_points\.json: chosen for another model\.pt \(SHA-256 [0-9a-f]{{12}}\.\.\.\), not "
        rf"{mixed}/model\.pt \([0-9a-f]{{12}}\.\.\.\)",
        lines[0],
    ), lines
    assert sorted(tmp_path.rglob("*")) == before

    older = tmp_path / "older"
    shutil.copytree(pipeline / f"results/models/{MODEL}", older)
    record = json.loads((older / "operating_points.json").read_text())
    assert len(record.pop("model_sha256")) == 64
    (older / "operating_points.json").write_text(json.dumps(record))
    result = murad_predict(source, "--model", older, "--out", tmp_path / "out_older")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and " WARNING " in lines[0] and "records no SHA-256 of the model.pt" in lines[0]
    assert set(pd.read_csv(tmp_path / "out_older/worklist.csv")["operating_point"]) == {"best_kappa"}


def test_a_usage_error_exits_2(tmp_path):
    result = murad_predict(tmp_path, "--out", tmp_path / "out")  # no --model
    assert result.returncode == 2 and "--model" in result.stderr


def test_a_progress_bar_counts_images_on_request(pipeline, small_mura, tmp_path, capsys):
    source = tmp_path / "one"
    shutil.copytree(valid_folder(small_mura) / "XR_ELBOW", source)
    model = str(pipeline / f"results/models/{MODEL}")
    make_worklist(str(source), [model], str(tmp_path / "out"), threads=1, progress=True)
    n_images = len(pd.read_csv(tmp_path / "out/images.csv"))
    assert re.search(rf"{n_images}/{n_images} \[", capsys.readouterr().err)


# ----------------------------------------------------------------------------------- how a study is called


def answerer(threshold=None, operating_point=None, per_body_part=None, members=("m",)):
    from murad.operating_points import SavedOperatingPoints
    from murad.worklist.answer import Answerer, Member

    points = {"best_kappa": {"threshold": 0.4}, "rule_out": {"threshold": 0.2}}
    saved = SavedOperatingPoints(points, temperature=0.5, aggregation="mean")
    group = [Member(name, Path(f"{name}/model.pt"), "resnet18", None, 64, saved) for name in members]
    return Answerer(" + ".join(members), group, per_body_part, threshold, operating_point)


def test_a_single_model_is_called_at_its_saved_operating_point_on_the_calibrated_scale():
    best = answerer().call("hand", {"m": 0.45})
    assert best.operating_point == "best_kappa" and best.abnormal == 1
    assert best.probability == pytest.approx(apply_temperature(np.array([0.45]), 0.5)[0])
    assert best.threshold == pytest.approx(apply_temperature(np.array([0.4]), 0.5)[0])
    assert answerer().call("hand", {"m": 0.4}).abnormal == 0  # at the threshold: normal, as the workflow calls it
    rule_out = answerer(operating_point="rule_out").call("hand", {"m": 0.25})
    assert rule_out.operating_point == "rule_out" and rule_out.abnormal == 1
    given = answerer(threshold=0.6).call("hand", {"m": 0.55})  # 0.55 calibrated with T = 0.5: 0.599
    assert given.operating_point == "given" and given.threshold == 0.6 and given.abnormal == 0


def test_an_ensemble_is_called_uncalibrated_at_one_half_and_per_body_part_only_where_it_has_a_model():
    mean = answerer(members=("a", "b")).call("hand", {"a": 0.7, "b": 0.4})
    assert mean.probability == pytest.approx(0.55) and mean.threshold == 0.5 and mean.abnormal == 1
    assert mean.operating_point == "default" and mean.answered_by == "a, b"
    per_part = answerer(per_body_part={"hand": "b", "wrist": "a"}, members=("a", "b"))
    assert per_part.call("hand", {"a": 0.9, "b": 0.1}).probability == pytest.approx(0.1)
    unknown = per_part.call(None, {"a": 0.9, "b": 0.1})
    assert unknown.probability is None and unknown.refusal.startswith("body part unknown")
    other = per_part.call("elbow", {"a": 0.9, "b": 0.1})
    assert other.refusal == "body part 'elbow' is not one of hand, wrist: a + b answers per body part"
    with pytest.raises(InputError, match="operating points are saved for one model, not an ensemble"):
        answerer(members=("a", "b"), operating_point="rule_out")
