"""Every door, every bad input tried: the line each gives. None is a traceback, none leaves an output behind.

`REFUSALS` is the table: (door, what is wrong, the input, the line expected). Each runs the real command in a fresh
folder; the command must exit 1 with exactly that one line on stderr (after the log's time stamp and level) and leave
the folder as it was. The config's refusals are Snakemake's (`ConfigError in file ...` and the line naming the key).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from murad.errors import InputError
from murad.synthetic import SyntheticSettings

from .conftest import default_config, snakemake_command

MURAD = Path(sys.executable).with_name("murad")
HEADER = "study,body_part,label,prob\n"
GOOD = HEADER + "s1,elbow,1,0.9\ns2,elbow,0,0.2\ns3,wrist,1,0.7\ns4,wrist,0,0.4\n"


def _png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (8, 8), 90).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _png()  # an 8 x 8 grey picture


def table(rows: str) -> dict[str, bytes]:
    return {"t.csv": (HEADER + rows).encode()}


# door, what is wrong, files to write, arguments, the line expected (a regex, ^...$)
REFUSALS = [
    ("murad metrics", "probability nan", table("s1,elbow,1,0.5\ns2,elbow,0,nan\n"), ["metrics", "t.csv", "--out", "o.csv"],
     r"t\.csv: row 3, column prob: NaN is not a probability"),
    ("murad metrics", "probability abc", table("s1,elbow,1,abc\n"), ["metrics", "t.csv", "--out", "o.csv"],
     r"t\.csv: row 2, column prob: 'abc' is not a number"),
    ("murad metrics", "probability 1.7", table("s1,elbow,1,1.7\n"), ["metrics", "t.csv", "--out", "o.csv"],
     r"t\.csv: row 2, column prob: 1\.7 is not within \[0, 1\]"),
    ("murad metrics", "probability -0.1", table("s1,elbow,1,0.3\ns2,elbow,1,-0.1\n"), ["metrics", "t.csv", "--out", "o.csv"],
     r"t\.csv: row 3, column prob: -0\.1 is not within \[0, 1\]"),
    ("murad metrics", "probability inf", table("s1,elbow,1,inf\n"), ["metrics", "t.csv", "--out", "o.csv"],
     r"t\.csv: row 2, column prob: inf is not within \[0, 1\]"),
    ("murad metrics", "label 2", table("s1,elbow,2,0.3\n"), ["metrics", "t.csv", "--out", "o.csv"],
     r"t\.csv: row 2, column label: '2' is not 0 or 1 \(1 = abnormal\)"),
    ("murad metrics", "a study twice, opposite labels", table("s1,elbow,1,0.3\ns1,elbow,0,0.3\n"),
     ["metrics", "t.csv", "--out", "o.csv"], r"t\.csv: row 3, column study: s1 is listed already in row 2"),
    ("murad metrics", "empty study", table(",elbow,1,0.3\n"), ["metrics", "t.csv", "--out", "o.csv"],
     r"t\.csv: row 2, column study: empty"),
    ("murad metrics", "a row with a cell missing", table("s1,elbow,1\n"), ["metrics", "t.csv", "--out", "o.csv"],
     r"t\.csv: row 2: 3 cells, the header has 4"),
    ("murad metrics", "header only", table(""), ["metrics", "t.csv", "--out", "o.csv"],
     r"t\.csv: holds no rows, only a header"),
    ("murad metrics", "empty file", {"t.csv": b""}, ["metrics", "t.csv", "--out", "o.csv"],
     r"t\.csv: empty \(a header row with study, body_part, label, prob is needed\)"),
    ("murad metrics", "no prob column", {"t.csv": b"study,body_part,label\ns1,elbow,1\n"},
     ["metrics", "t.csv", "--out", "o.csv"], r"t\.csv: no column 'prob' \(needs study, body_part, label, prob\)"),
    ("murad metrics", "a binary file", {"t.csv": bytes(range(256)) * 4}, ["metrics", "t.csv", "--out", "o.csv"],
     r"t\.csv: not a text CSV file \(not UTF-8\)"),
    ("murad metrics", "no such file", {}, ["metrics", "missing.csv", "--out", "o.csv"], r"missing\.csv: no such file"),
    ("murad compare", "a bad cell in the second table", {"a.csv": GOOD.encode(), "b.csv": GOOD.replace("0.7", "x").encode()},
     ["compare", "a.csv", "b.csv", "--out", "o.csv"], r"b\.csv: row 4, column prob: 'x' is not a number"),
    ("murad compare", "different studies", {"a.csv": GOOD.encode(), "b.csv": GOOD.replace("s4", "s5").encode()},
     ["compare", "a.csv", "b.csv", "--out", "o.csv"],
     r"study s4 of a\.csv is missing from b\.csv \(both must hold the same studies\)"),
    ("murad predict", "a text file as model.pt", {"model.pt": b"not a model\n", "in/s1/x.png": b"x"},
     ["predict", "in", "--model", "model.pt", "--out", "o"], r"model\.pt: not a murad model\.pt \(.*\)"),
    ("murad predict", "a truncated model.pt (a zip cut short)", {"model.pt": b"PK\x03\x04" + bytes(200), "in/s1/x.png": b"x"},
     ["predict", "in", "--model", "model.pt", "--out", "o"], r"model\.pt: not a murad model\.pt \(.*\)"),
    ("murad predict", "no such input", {}, ["predict", "nothing", "--model", "model.pt", "--out", "o"],
     r"nothing: no such folder or CSV file"),
    ("murad predict", "an input folder without files", {"in/.keep": b""}, ["predict", "in", "--model", "m.pt", "--out", "o"],
     r"in: no files in it \(every folder holding files is a study; names starting with \. are skipped\)"),
    ("murad predict", "--out inside the input", {"in/s1/x.png": b"x"}, ["predict", "in", "--model", "m.pt", "--out", "in/o"],
     r"in/o: the output folder lies inside the input \(in\); name a folder apart from it"),
    ("murad predict", "--out holding the input", {"o/in/s1/x.png": b"x"}, ["predict", "o/in", "--model", "m.pt", "--out", "o"],
     r"o: the output folder holds the input \(o/in\); name a folder apart from it"),
    ("murad predict", "--out a file", {"in/s1/x.png": b"x", "o": b"mine"}, ["predict", "in", "--model", "m.pt", "--out", "o"],
     r"o: exists and is not a folder"),
    ("murad predict", "--out holding a worklist.csv of someone else's",
     {"in/s1/x.png": b"x", "o/worklist.csv": b"mine", "o/notes.txt": b"mine"}, ["predict", "in", "--model", "m.pt", "--out", "o"],
     r"o: holds worklist\.csv, which murad did not write \(no murad-worklist\.json\); name another folder"),
    ("murad predict", "--out holding a marker murad did not write",
     {"in/s1/x.png": b"x", "o/murad-worklist.json": b"[]"}, ["predict", "in", "--model", "m.pt", "--out", "o"],
     r"o/murad-worklist\.json: not the record murad predict writes; name another folder"),
    ("murad predict", "--out under a file", {"in/s1/x.png": b"x", "f": b"x"}, ["predict", "in", "--model", "m.pt", "--out", "f/o"],
     r"f/o: cannot be written \(Not a directory\)"),
    ("murad predict", "a missing model, --out to be made", {"in/s1/x.png": b"x"},
     ["predict", "in", "--model", "m.pt", "--out", "new/o"], r"m\.pt: no such model file \(.*\)"),
    ("murad predict", "a CSV without a study column", {"in.csv": b"path\nx.png\n"},
     ["predict", "in.csv", "--model", "m.pt", "--out", "o"], r"in\.csv: no 'study' column \(it needs path and study, one row per image\)"),
    ("murad predict", "a CSV listing an image twice", {"in.csv": b"path,study\nx.png,s1\nx.png,s1\n"},
     ["predict", "in.csv", "--model", "m.pt", "--out", "o"], r"in\.csv: row 3: x\.png is listed already in row 2"),
    ("murad predict", "--batch-size 0", {"in/s1/x.png": b"x"}, ["predict", "in", "--model", "m.pt", "--out", "o", "--batch-size", "0"],
     r"--batch-size 0: must be at least 1"),
    ("murad predict", "--threads 0", {"in/s1/x.png": b"x"}, ["predict", "in", "--model", "m.pt", "--out", "o", "--threads", "0"],
     r"--threads 0: must be at least 1"),
    ("murad check-set", "a study with two labels", {"s.csv": b"path,study,label\na.png,s1,1\nb.png,s1,0\n"},
     ["check-set", "s.csv"], r"s\.csv: row 3: study s1 has label 0 here but 1 in row 2"),
    ("murad check-set", "label 2", {"s.csv": b"path,study,label\na.png,s1,2\n"}, ["check-set", "s.csv"],
     r"s\.csv: row 2, column label: '2' is not 0 or 1 \(1 = abnormal\)"),
    ("murad check-set", "no label column", {"s.csv": b"path,study\na.png,s1\n"}, ["check-set", "s.csv"],
     r"s\.csv: no column 'label' \(needs path, study, label\)"),
    ("murad check-set", "a missing image and a text file", {"s.csv": b"path,study,label\na.png,s1,1\nb.png,s2,0\n",
     "b.png": b"text\n"}, ["check-set", "s.csv"], r"s\.csv: row 2: a\.png: no such file \(and 1 more images that cannot be read\)"),
    ("murad check-set", "a box outside its image", {"s.csv": b"path,study,label\na.png,s1,1\n", "a.png": PNG,
     "b.csv": b"path,x0,y0,x1,y1\na.png,0,0,9,40\n"}, ["check-set", "s.csv", "--boxes", "b.csv"],
     r"b\.csv: row 2: the box \(0, 0\) - \(9, 40\) of a\.png is empty or outside the image \(8 x 8\)"),
    ("murad check-set", "a box of an image not in the set", {"s.csv": b"path,study,label\na.png,s1,1\n", "a.png": PNG,
     "b.csv": b"path,x0,y0,x1,y1\nc.png,0,0,2,2\n"}, ["check-set", "s.csv", "--boxes", "b.csv"],
     r"b\.csv: row 2: c\.png is not an image of the set"),
    ("murad check-set", "no such set", {}, ["check-set", "nothing.csv"], r"nothing\.csv: no such CSV file or folder"),
    ("murad stage-weights", "an unknown model", {}, ["stage-weights", "resnet_9000", "--hub-dir", "hub"],
     r"'resnet_9000': not a torchvision classification model \(torchvision\.models\.list_models\(\)\)"),
    ("murad stage-weights", "a hub folder that cannot be made", {"hub": b"a file"}, ["stage-weights", "resnet18", "--hub-dir", "hub"],
     r"--hub-dir hub: cannot make hub/checkpoints \(.*\)"),
    ("murad slurm-profile", "an account with a quote", {}, ["slurm-profile", "--account", 'a"b', "--partition", "p", "--dir", "prof"],
     r"--account: 'a\"b' is not a SLURM name \(letters, digits, _ \. - only\)"),
    ("murad slurm-profile", "an empty partition", {}, ["slurm-profile", "--account", "a", "--partition", "", "--dir", "prof"],
     r"--partition: '' is not a SLURM name \(letters, digits, _ \. - only\)"),
    ("murad slurm-profile", "--jobs 0", {}, ["slurm-profile", "--account", "a", "--partition", "p", "--jobs", "0", "--dir", "prof"],
     r"--jobs: 0 is not a positive number of jobs"),
    ("murad slurm-profile", "a profile folder that is a file", {"prof": b"x"}, ["slurm-profile", "--account", "a", "--partition", "p", "--dir", "prof"],
     r"cannot write prof/config\.yaml: .*"),
]  # fmt: skip


@pytest.mark.parametrize(
    "door, wrong, files, arguments, expected", REFUSALS, ids=[f"{door}: {wrong}" for door, wrong, *_ in REFUSALS]
)
def test_each_bad_input_at_each_door_gives_one_line_and_no_output(tmp_path, door, wrong, files, arguments, expected):
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    result = subprocess.run([str(MURAD), *arguments], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("Downloading")]
    assert len(lines) == 1, result.stderr
    message = re.sub(r"^\S+ \S+ ERROR ", "", lines[0])
    assert re.fullmatch(expected, message), message
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written


CONFIG_REFUSALS = [
    ("training=5", r"config key training: 5 is not of type 'object'"),
    ("evaluation={threshold: abc}", r"config key evaluation\.threshold: 'abc' is not of type 'number'"),
    ("evaluation={threshold: 1.5}", r"config key evaluation\.threshold: 1\.5 is greater than or equal to the maximum of 1"),
    ("synthetic={train_studies: -1}", r"config key synthetic\.train_studies: -1 is less than the minimum of 28"),
    ("synthetic={colour: 1}", r"config key synthetic: Additional properties are not allowed \('colour' was unexpected\)"),
    ("only_models=[nonexistent]", r"config key only_models: nonexistent is not one of training\.models"),
    ("training={models: {notamodel: null}}", r"config key training\.models\.notamodel: not a torchvision classification model"),
    ("cam={colormap: notacolormap}", r"config key cam\.colormap: 'notacolormap' is not a matplotlib colour map name"),
    ("split={tune_fraction: 0.9}", r"config key split\.tune_fraction: 0\.9 is greater than the maximum of 0\.5"),
    ("node_local_cache=[a]", r"config key node_local_cache: \['a'\] is not of type 'string', 'null'"),
    ("external={Site-B: {studies: s.csv}}", r"config key external: 'Site-B' does not match '\^\[a-z0-9_\]\+\$'"),
    ("external={site_b: {studies: /no/such/studies.csv}}",
     r"config key external\.site_b\.studies: /no/such/studies\.csv: no such file or folder"),
    ("external={site_b: {studies: s.csv, box: b.json}}",
     r"config key external\.site_b: Additional properties are not allowed \('box' was unexpected\)"),
    ("evaluation={subgroups: {no_metal: /no/such.csv}}",
     r"config key evaluation\.subgroups\.no_metal: /no/such\.csv: no such file"),
    ("evaluation={subgroups: {fracture: config.yaml}}",
     r"config key evaluation\.subgroups\.fracture: a subgroup of that name comes with the data"),
]  # fmt: skip


@pytest.mark.parametrize("given, expected", CONFIG_REFUSALS, ids=[given for given, _ in CONFIG_REFUSALS])
def test_each_bad_config_value_names_its_key_before_any_job(tmp_path, given, expected):
    import yaml

    (tmp_path / "config.yaml").write_text(yaml.safe_dump(default_config()))
    before = sorted(tmp_path.rglob("*"))
    result = subprocess.run(
        snakemake_command(tmp_path, "-n", "--config", given), capture_output=True, text=True, timeout=120
    )
    printed = result.stdout + result.stderr  # Snakemake prints its ConfigError on stdout
    assert result.returncode == 1 and "Traceback" not in printed
    assert any(re.fullmatch(expected, line) for line in printed.splitlines()), printed
    assert not (tmp_path / "results").exists() and sorted(tmp_path.rglob("*"))[: len(before)] == before


@pytest.mark.parametrize(
    "settings, expected",
    [
        ({"train_studies": 5}, "synthetic setting train_studies: 5 is not a whole number >= 28"),
        ({"max_side": 40}, "synthetic setting max_side: 40 is not a whole number >= min_side"),
        ({"rgb_fraction": 1.5}, r"synthetic setting rgb_fraction: 1\.5 is not a number within \[0, 1\]"),
        ({"seed": "0"}, "synthetic setting seed: '0' is not a whole number >= 0"),
    ],
)
def test_the_synthetic_generators_settings_are_checked(settings, expected):
    with pytest.raises(InputError, match=f"^{expected}$"):
        SyntheticSettings(**settings)


def test_an_unexpected_error_lands_in_the_jobs_log_with_its_traceback_and_a_last_line_summary(tmp_path):
    log = tmp_path / "job.log"
    program = (
        "import sys\nfrom murad.job_runner import run_logged\n"
        "def job():\n    raise KeyError('no such layer')\n"
        "run_logged(job, sys.argv[1])\n"
    )
    done = subprocess.run([sys.executable, "-c", program, str(log)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and 'File "<string>", line 4, in job' in text
    assert text.rstrip().splitlines()[-1].endswith("ERROR KeyError: 'no such layer'")
    assert done.stderr.rstrip().splitlines()[-1].endswith("ERROR KeyError: 'no such layer'")  # Snakemake's output too
