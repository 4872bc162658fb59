"""Caches read from node-local scratch (`node_local_cache`): the same predictions as from results/, an incomplete
copy refused and made again, nothing left behind, and nothing re-run for setting it."""

from __future__ import annotations

import json
import logging
import re

import numpy as np
import pandas as pd
import pytest
import torch

from murad.data import LOCAL_COPIES, build_cache, local_copy, node_local_caches
from murad.errors import InputError
from murad.jobs.evaluate import predict
from murad.models import build_model
from murad.mura import read_mura

from .conftest import snakemake_again

SIZE = 32


@pytest.fixture(scope="module")
def valid_cache(small_mura, tmp_path_factory):
    """A small MURA valid's table and 32 px cache, and an (untrained) model.pt that reads them."""
    folder = tmp_path_factory.mktemp("valid_cache")
    table = read_mura(small_mura, "valid")
    table.to_csv(folder / "valid.csv", index=False)
    build_cache(table, small_mura, SIZE, folder / "valid_32px.npy")
    torch.manual_seed(0)
    network = build_model("resnet18", "none", image_size=SIZE)
    settings = {"image_size": SIZE, "weights": "none"}
    torch.save({"model": "resnet18", "settings": settings, "state_dict": network.state_dict()}, folder / "model.pt")
    return folder


def run_predict(folder, out, node_local_cache=None):
    predict(
        str(folder / "model.pt"),
        str(folder / "valid.csv"),
        str(folder / "valid_32px.npy"),
        str(out),
        batch_size=16,
        node_local_cache=node_local_cache,
    )
    return out.read_bytes()


def test_predictions_from_a_node_local_copy_equal_those_from_results(valid_cache, tmp_path, monkeypatch, caplog):
    scratch = tmp_path / "node_scratch"
    scratch.mkdir()
    monkeypatch.setenv("MURAD_TEST_SCRATCH", str(scratch))
    shared = run_predict(valid_cache, tmp_path / "shared.csv")
    with caplog.at_level(logging.INFO, logger="murad"):
        local = run_predict(valid_cache, tmp_path / "local.csv", node_local_cache="$MURAD_TEST_SCRATCH")
    assert local == shared
    assert pd.read_csv(tmp_path / "local.csv")["prob"].nunique() > 1
    assert any(f"-> {scratch / LOCAL_COPIES}" in message and "MB/s" in message for message in caplog.messages)
    assert list((scratch / LOCAL_COPIES).iterdir()) == []  # removed when the job ended


@pytest.mark.parametrize("damage", ["truncated_without_record", "record_of_another_file", "record_missing"])
def test_an_incomplete_copy_is_refused_and_made_again(valid_cache, tmp_path, caplog, damage):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    source = valid_cache / "valid_32px.npy"
    copy = local_copy(source, scratch)  # a copy a killed job left behind, then damaged
    record = copy.with_name(copy.name + ".complete")
    if damage == "truncated_without_record":
        copy.write_bytes(source.read_bytes()[:1000])
        record.unlink()
    elif damage == "record_of_another_file":
        record.write_text(json.dumps({**json.loads(record.read_text()), "mtime_ns": 1}))
    else:
        record.unlink()
    shared = run_predict(valid_cache, tmp_path / "shared.csv")
    with caplog.at_level(logging.INFO, logger="murad"):
        assert run_predict(valid_cache, tmp_path / "local.csv", node_local_cache=str(scratch)) == shared
    assert any(
        "an incomplete or outdated copy" in message and "copying it again" in message for message in caplog.messages
    )


def test_a_complete_copy_on_the_node_is_used_as_it_is(valid_cache, tmp_path, caplog):
    source = valid_cache / "valid_32px.npy"
    first = local_copy(source, tmp_path)
    made = first.stat().st_mtime_ns
    with caplog.at_level(logging.INFO, logger="murad"):
        assert local_copy(source, tmp_path) == first
    assert first.stat().st_mtime_ns == made and any("using the complete copy" in m for m in caplog.messages)
    assert np.array_equal(np.load(first), np.load(source))


def test_a_node_local_folder_that_is_not_there_is_one_line(valid_cache, tmp_path, monkeypatch):
    monkeypatch.delenv("MURAD_UNSET_VARIABLE", raising=False)
    for folder in ("$MURAD_UNSET_VARIABLE/x", str(tmp_path / "missing")):
        refused = pytest.raises(InputError, match=r"^node_local_cache .*: .* is not a folder on this node$")
        with refused, node_local_caches({"valid": str(valid_cache / "valid_32px.npy")}, folder):
            pass
    with node_local_caches({"valid": "unchanged.npy"}, None) as read_from:
        assert read_from == {"valid": "unchanged.npy"}


def test_setting_node_local_cache_re_runs_only_the_record_of_the_configuration(pipeline, tmp_path):
    # the environment job records the resolved configuration for the report; no job that computes a result re-runs
    result = snakemake_again(pipeline, "-n", "--quiet", "rules", "--config", f"node_local_cache={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    listed = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, re.M))
    assert listed == {"environment": "1", "all": "1", "total": "2"}, result.stdout  # all: the target rule
