"""`murad predict` at every door a user's folders open: it writes only its own files, touches nothing it was given,
names every file it did not read, survives any name, one run at a time, and stops cleanly.

Every case builds its folders in the test (links, a named pipe, a socket, names in Latin-1 and with control
characters, a folder that holds other files) and checks the exit status, what is on disk afterwards (byte for byte),
the rows of `images.csv`, and stderr: one line, no traceback. The model is an untrained one written as training
writes it (what is checked here does not depend on its weights).
"""

from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from murad import synthetic_dicom
from murad.names import original, shown
from murad.worklist.output import LOCK, MARKER

from .conftest import fake_trained_model

MURAD = Path(sys.executable).with_name("murad")
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR) ")


def picture(seed: int, size: int = 48) -> np.ndarray:
    """A grey picture with every grey level a radiograph has (a gradient and noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    return np.clip(x * 4 + y * 1.3 + rng.normal(0, 12, (size, size)), 0, 255).astype(np.uint8)


def write_png(path: Path | bytes, seed: int = 0) -> None:
    with open(path, "wb") as handle:
        Image.fromarray(picture(seed)).save(handle, format="PNG")


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("model") / "resnet18"
    folder.mkdir()
    fake_trained_model(folder / "model.pt", "resnet18", 32)
    return folder


def murad_predict(*args, cwd: Path | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(MURAD), "predict", *map(str, args), "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


def one_line(result: subprocess.CompletedProcess, level: str) -> str:
    """The one line on stderr, at ``level``, without its time stamp."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert LOG_LINE.match(lines[0]) and f" {level} " in lines[0][:40], lines[0]
    return LOG_LINE.sub("", lines[0])


def snapshot(root: Path) -> dict[bytes, tuple]:
    """Everything under ``root`` (names as bytes): files with their bytes, links with their targets, the kind of
    anything else."""
    base = os.fsencode(root)
    seen = {}
    for folder, folders, files in os.walk(base):
        for name in folders + files:
            path = os.path.join(folder, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                seen[os.path.relpath(path, base)] = ("link", os.readlink(path))
            elif stat.S_ISREG(mode):
                with open(path, "rb") as handle:
                    seen[os.path.relpath(path, base)] = ("file", handle.read())
            else:
                seen[os.path.relpath(path, base)] = ("kind", stat.S_IFMT(mode))
    return seen


def read_table(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, dtype=str)


def two_studies(root: Path) -> Path:
    for study, count in (("patient1/study1", 2), ("patient2/study1", 1)):
        (root / study).mkdir(parents=True)
        for index in range(count):
            write_png(root / study / f"image{index + 1}.png", seed=index)
    return root


# ------------------------------------------------------------------------------------------ the output folder


def test_a_folder_holding_other_files_keeps_them_byte_for_byte_and_a_second_run_replaces_only_its_own(model, tmp_path):
    source = two_studies(tmp_path / "in")
    out = tmp_path / "wl"
    out.mkdir()
    (out / "notes.txt").write_text("keep me\n")
    (out / "thesis").mkdir()
    (out / "thesis/chapter.tex").write_bytes(b"\\section{x}\n")
    theirs = snapshot(out)
    given = snapshot(source)
    for _ in range(2):  # the second run finds its own worklist there (the marker) and replaces it
        result = murad_predict(source, "--model", model, "--out", out)
        assert result.returncode == 0, result.stderr
        assert one_line(result, "INFO").startswith(f"{out}/worklist.csv: 2 studies (2 ok, 0 incomplete")
        now = snapshot(out)
        assert {name: now[name] for name in theirs} == theirs  # theirs untouched
        ours = {name.split(b"/")[0] for name in set(now) - set(theirs)}
        assert ours == {b"worklist.csv", b"images.csv", b"worklist.html", b"overlays", MARKER.encode()}
    assert snapshot(source) == given
    assert len(read_table(out / "images.csv")) == 3


def test_a_folder_holding_a_worklist_csv_murad_did_not_write_is_refused_and_left_as_it_was(model, tmp_path):
    source = two_studies(tmp_path / "in")
    out = tmp_path / "wl"
    out.mkdir()
    (out / "worklist.csv").write_bytes(b"")
    (out / "notes.txt").write_text("keep me\n")
    before = snapshot(tmp_path)
    result = murad_predict(source, "--model", model, "--out", out)
    assert result.returncode == 1
    assert one_line(result, "ERROR") == (
        f"{out}: holds worklist.csv, which murad did not write (no {MARKER}); name another folder"
    )
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("where", ["input inside --out", "--out inside the input", "--out is the input"])
def test_an_out_folder_that_is_holds_or_lies_inside_the_input_is_refused_before_anything_is_read(
    model, tmp_path, where
):
    out = tmp_path / "wl"
    if where == "input inside --out":  # with a worklist of murad's own there: still refused, the input kept
        source = two_studies(out / "incoming")
        assert murad_predict(two_studies(tmp_path / "other"), "--model", model, "--out", out).returncode == 0
        relation = "holds"
    elif where == "--out inside the input":
        source = two_studies(tmp_path / "in")
        out = source / "patient1/wl"
        relation = "lies inside"
    else:
        source = out = two_studies(tmp_path / "in")
        relation = "is"
    before = snapshot(tmp_path)
    result = murad_predict(source, "--model", model, "--out", out)
    assert result.returncode == 1
    message = one_line(result, "ERROR")
    assert message == f"{out}: the output folder {relation} the input ({source}); name a folder apart from it"
    assert snapshot(tmp_path) == before


def test_out_may_be_dot_a_link_to_a_folder_or_a_folder_not_made_yet(model, tmp_path):
    source = two_studies(tmp_path / "in")
    here = tmp_path / "here"
    here.mkdir()
    (here / "mine.txt").write_text("mine\n")
    assert murad_predict(source.resolve(), "--model", model.resolve(), "--out", ".", cwd=here).returncode == 0
    assert (here / "mine.txt").read_text() == "mine\n" and (here / "worklist.csv").is_file()
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to("real")
    assert murad_predict(source, "--model", model, "--out", tmp_path / "link").returncode == 0
    assert (tmp_path / "link").is_symlink() and (tmp_path / "real/worklist.csv").is_file()
    assert murad_predict(source, "--model", model, "--out", tmp_path / "new/deeper/wl").returncode == 0
    assert (tmp_path / "new/deeper/wl/images.csv").is_file()


@pytest.mark.parametrize(
    "case, message",
    [
        ("under a file", r"(?P<out>.*/a_file/wl): cannot be written \(Not a directory\)"),
        ("a link to nothing", r"(?P<out>.*/dangling): a link to nothing; name a folder"),
        ("a file", r"(?P<out>.*/a_file): exists and is not a folder"),
        ("a missing model", r"(?P<model>.*/nothing/model\.pt): no such model file .*"),
    ],
)
def test_an_out_folder_that_cannot_be_written_is_one_line_and_leaves_nothing(model, tmp_path, case, message):
    source = two_studies(tmp_path / "in")
    (tmp_path / "a_file").write_text("mine\n")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    out = {"under a file": "a_file/wl", "a link to nothing": "dangling", "a file": "a_file"}.get(case, "new/wl")
    given = model if case != "a missing model" else tmp_path / "nothing/model.pt"
    before = snapshot(tmp_path)
    result = murad_predict(source, "--model", given, "--out", tmp_path / out)
    assert result.returncode == 1
    assert re.fullmatch(message, one_line(result, "ERROR"))
    assert snapshot(tmp_path) == before  # a missing model is found after --out was made: it is removed again


# ------------------------------------------------------------------------------- every file, any name, any kind


def odd_input(root: Path) -> dict[bytes, str]:
    """A study folder holding images, odd names, a link to a folder, a sub-folder, a named pipe, a socket, a broken
    link, a CT image and a hidden file; the reason expected for each entry (bytes name relative to ``root``; ""
    read)."""
    study = root / "patient1/study1"
    (study / "sub").mkdir(parents=True)
    write_png(study / "a.png")
    write_png(study / "sub/b.png", seed=1)
    expected = {b"patient1/study1/a.png": "", b"patient1/study1/sub/b.png": ""}
    for name in (b"r\xf6ntgen.png", b"line\rbreak.png", b"new\nline.png", b'quote",comma.png', b"back\\slash.png"):
        write_png(os.path.join(os.fsencode(study), name), seed=2)
        expected[b"patient1/study1/" + name] = ""
    (study / "link_to_a.png").symlink_to(study / "a.png")  # read through
    expected[b"patient1/study1/link_to_a.png"] = ""
    (study / "to_other").symlink_to(root / "patient1", target_is_directory=True)
    expected[b"patient1/study1/to_other"] = "a link to a folder (links to folders are not followed)"
    os.mkfifo(study / "pipe.png")
    expected[b"patient1/study1/pipe.png"] = "a named pipe (FIFO), not a file"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(study / "socket.png"))
    server.close()
    expected[b"patient1/study1/socket.png"] = "a socket, not a file"
    (study / "broken.png").symlink_to(root / "nothing")
    expected[b"patient1/study1/broken.png"] = "a link to nothing (broken link)"
    ct = synthetic_dicom.encoded(picture(3), "uncompressed_8bit")
    ct.Modality = "CT"
    ct.save_as(study / "slice.dcm", enforce_file_format=True)
    expected[b"patient1/study1/slice.dcm"] = (
        "Modality CT: not a projection radiograph (murad reads CR, DX, OT, RF, RG, XA or none)"
    )
    (study / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (root / "README.txt").write_text("exported 2026-12-01\n")
    expected[b"README.txt"] = "not a PNG, JPEG or DICOM file"
    return expected


def test_every_entry_under_the_input_has_its_row_whatever_its_name_or_kind_and_nothing_is_opened_that_is_not_a_file(
    model, tmp_path
):
    source = tmp_path / "in"
    expected = odd_input(source)
    given = snapshot(source)
    out = tmp_path / "wl"
    result = murad_predict(source, "--model", model, "--out", out, timeout=120)  # a pipe opened would hang here
    assert result.returncode == 3  # written, but not every file was read
    assert "1 hidden skipped" in one_line(result, "INFO")
    images = read_table(out / "images.csv")
    with open(out / "images.csv", "rb") as handle:
        assert handle.read().count(b"\n") == len(expected) + 1  # one line per file: no name broke a row
    rows = {}
    for study, file, status, reason in images[["study", "file", "status", "reason"]].itertuples(index=False):
        name = original(file) if study == "." else os.path.join(original(study), original(file))
        rows[name] = (status, reason)
    assert rows == {name: ("not read", reason) if reason else ("ok", "") for name, reason in expected.items()}
    worklist = read_table(out / "worklist.csv").set_index("study")
    assert worklist.loc["patient1/study1", "status"] == "incomplete"
    assert worklist.loc["patient1/study1/sub", "status"] == "ok"  # the sub-folder is a study of its own
    assert worklist.loc[".", "status"] == "not predicted"  # README.txt: the input's own files are a study too
    assert snapshot(source) == given  # nothing given was touched
    page = (out / "worklist.html").read_text()
    assert "r\\xf6ntgen.png" in page and "line\\x0dbreak.png" in page and "quote&quot;,comma.png" in page
    assert "&amp;quot;" not in page and "&amp;amp;" not in page  # escaped once


def test_a_csv_naming_a_nul_byte_a_folder_a_pipe_and_a_missing_file_gives_each_a_reason(model, tmp_path):
    write_png(tmp_path / "good.png")
    (tmp_path / "folder.png").mkdir()
    os.mkfifo(tmp_path / "pipe.png")
    write_png(os.path.join(os.fsencode(tmp_path), b"r\xf6ntgen.png"), seed=4)
    table = tmp_path / "studies.csv"
    table.write_bytes(
        b"path,study\ngood.png,s1\nbad\0name.png,s1\nfolder.png,s2\npipe.png,s2\nmissing.png,s2\nr\xf6ntgen.png,s3\n"
    )
    result = murad_predict(table, "--model", model, "--out", tmp_path / "wl")
    assert result.returncode == 3
    one_line(result, "INFO")
    images = read_table(tmp_path / "wl/images.csv")
    reasons = dict(zip(images["file"].map(lambda name: Path(name).name), images["reason"], strict=True))
    assert reasons == {
        "good.png": "",
        "bad\\x00name.png": "its name holds a NUL byte, which no file name can",
        "folder.png": "a folder, not a file",
        "pipe.png": "a named pipe (FIFO), not a file",
        "missing.png": "no such file",
        "r\\xf6ntgen.png": "",  # a Latin-1 CSV's path opens the file it names
    }
    worklist = read_table(tmp_path / "wl/worklist.csv").set_index("study")
    assert worklist["status"].to_dict() == {"s1": "incomplete", "s3": "ok", "s2": "not predicted"}


def test_a_csv_listing_an_image_inside_out_is_refused(model, tmp_path):
    (tmp_path / "wl").mkdir()
    write_png(tmp_path / "wl/x.png")
    (tmp_path / "in.csv").write_text("path,study\nwl/x.png,s1\n")
    before = snapshot(tmp_path)
    result = murad_predict(tmp_path / "in.csv", "--model", model, "--out", tmp_path / "wl")
    assert result.returncode == 1
    assert one_line(result, "ERROR") == f"{tmp_path}/in.csv: row 2: wl/x.png lies inside the output folder"
    assert snapshot(tmp_path) == before


def test_a_dicom_the_decoders_cannot_read_is_one_reason_with_what_they_said_and_nothing_on_stderr(model, tmp_path):
    from pydicom.encaps import encapsulate

    study = tmp_path / "in/s1"
    study.mkdir(parents=True)
    write_png(study / "good.png")
    broken = synthetic_dicom.encoded(picture(5), "jpeg2000")
    broken.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"not a codestream" * 8])
    broken.save_as(study / "broken.dcm", enforce_file_format=True)
    result = murad_predict(tmp_path / "in", "--model", model, "--out", tmp_path / "wl")
    assert result.returncode == 3
    one_line(result, "INFO")  # no pydicom ERROR line, no decoder traceback
    reason = read_table(tmp_path / "wl/images.csv").set_index("file").loc["broken.dcm", "reason"]
    assert reason.startswith("DICOM pixel data not decoded (JPEG 2000 Image Compression (Lossless Only): Unable")
    assert "pylibjpeg: Error decoding the J2K data" in reason  # the whole list, not cut at its first line


# --------------------------------------------------------------------------------- one run at a time, stopping


def many_studies(root: Path, studies: int = 40) -> Path:
    for number in range(studies):
        folder = root / f"patient{number}/study1"
        folder.mkdir(parents=True)
        for index in range(3):
            write_png(folder / f"image{index}.png", seed=number * 3 + index)
    return root


def start(*args) -> subprocess.Popen:
    command = [str(MURAD), "predict", *map(str, args), "--threads", "1"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_runs_into_one_out_folder_one_second_apart_the_second_is_refused_naming_the_first(model, tmp_path):
    source = many_studies(tmp_path / "in")
    out = tmp_path / "wl"
    first = start(source, "--model", model, "--out", out)
    time.sleep(1)
    second = start(source, "--model", model, "--out", out)
    results = [(process, *process.communicate(timeout=300)) for process in (first, second)]
    codes = sorted(process.returncode for process, _, _ in results)
    assert codes == [0, 1], [(p.returncode, err) for p, _, err in results]
    winner, _, _ = next(r for r in results if r[0].returncode == 0)
    refused = next(err for p, _, err in results if p.returncode == 1)
    message = one_line(subprocess.CompletedProcess([], 1, "", refused), "ERROR")
    assert re.fullmatch(
        rf"{out}: another murad predict is writing its worklist here \(pid {winner.pid} on .+, started .+\); "
        r"wait for it to end or name another --out",
        message,
    )
    overlays = set(read_table(out / "images.csv")["overlay"])
    assert len(overlays) == 120 and all((out / overlay).is_file() for overlay in overlays)
    assert sorted(os.listdir(out)) == sorted(["images.csv", "worklist.csv", "worklist.html", "overlays", MARKER])


def wait_for(path: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


@pytest.mark.parametrize(
    "signal_name, code, before_it",
    [("SIGINT", 130, "a worklist"), ("SIGTERM", 143, "a worklist"), ("SIGTERM", 143, "no folder")],
)
def test_ctrl_c_and_sigterm_end_with_one_line_and_leave_out_as_it_was(model, tmp_path, signal_name, code, before_it):
    import signal

    source = many_studies(tmp_path / "in")
    out = tmp_path / "wl"
    if before_it == "a worklist":
        assert murad_predict(two_studies(tmp_path / "small"), "--model", model, "--out", out).returncode == 0
        (out / "notes.txt").write_text("mine\n")
    before = snapshot(tmp_path)
    run = start(source, "--model", model, "--out", out)
    wait_for(out / LOCK)
    run.send_signal(getattr(signal, signal_name))
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == code, stderr
    message = one_line(subprocess.CompletedProcess([], code, "", stderr), "ERROR")
    assert message == (
        f"murad predict {source}: stopped by {signal_name}; nothing partial is left in {out}; a worklist there before "
        "is as it was"
    )
    assert snapshot(tmp_path) == before  # a folder the run made is gone again


def test_a_lock_left_by_a_killed_run_is_taken_over_naming_it(model, tmp_path):
    source = many_studies(tmp_path / "in", 10)
    out = tmp_path / "wl"
    run = start(source, "--model", model, "--out", out)
    wait_for(out / LOCK)
    time.sleep(0.2)
    run.kill()
    run.communicate()
    assert (out / LOCK).exists()  # SIGKILL: nothing could clean up
    result = murad_predict(two_studies(tmp_path / "small"), "--model", model, "--out", out)
    assert result.returncode == 0, result.stderr
    warning = result.stderr.splitlines()[0]
    assert re.search(rf"a lock left by a run that ended without releasing it \(pid {run.pid} on .+\) is taken over",
                     warning)  # fmt: skip
    assert sorted(os.listdir(out)) == sorted(["images.csv", "worklist.csv", "worklist.html", "overlays", MARKER])


def test_shown_names_are_one_line_and_give_back_the_file_systems_bytes():
    for name in (b"r\xf6ntgen.png", "röntgen.png".encode(), b"a\rb\nc\x7f", b"back\\slash\\x41", b"\xc2\x85 nel"):
        text = shown(os.fsdecode(name))
        assert text.isprintable() and original(text) == name


# ------------------------------------------------------------------------------------------ the overlays' colours


def test_overlays_take_the_runs_colour_map_and_opacity_unless_the_flags_say_otherwise(tmp_path):
    models = tmp_path / "work/results/models/resnet18"
    models.mkdir(parents=True)
    fake_trained_model(models / "model.pt", "resnet18", 32)
    report = tmp_path / "work/results/report"
    report.mkdir()
    (report / "config.yaml").write_text("cam: {colormap: gray, alpha: 0.0}\n")  # the run's: no colour at all
    studies = two_studies(tmp_path / "incoming")

    def overlays(out: Path, *flags) -> list[np.ndarray]:
        done = murad_predict(studies, "--model", models, "--out", out, *flags)
        assert done.returncode == 0, done.stderr
        return [np.asarray(Image.open(path).convert("RGB")) for path in sorted((out / "overlays").rglob("*.png"))]

    grey = overlays(tmp_path / "run")
    assert grey and all(
        (image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all() for image in grey
    )
    coloured = overlays(tmp_path / "flags", "--colormap", "jet", "--alpha", "0.9")
    assert any((image[..., 0] != image[..., 2]).any() for image in coloured)

    refused = murad_predict(studies, "--model", models, "--out", tmp_path / "bad", "--colormap", "nope")
    assert refused.returncode == 1 and "--colormap 'nope': not a matplotlib colour map name" in one_line(
        refused, "ERROR"
    )
    assert not (tmp_path / "bad").exists()
    (report / "config.yaml").write_text("cam: {colormap: gray, alpha: 7}\n")
    refused = murad_predict(studies, "--model", models, "--out", tmp_path / "bad")
    assert refused.returncode == 1 and "config.yaml: cam.alpha 7: not an opacity in [0, 1]" in one_line(
        refused, "ERROR"
    )
    assert not (tmp_path / "bad").exists()
