"""External test sets: reading and checking a set (CSV or MURA-layout folder, COCO or CSV boxes), the synthetic site,
the measures of Table 6 and Table 7 against plain computations, and their figure and tables as a person reads them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.metrics import cohen_kappa_score

from murad import synthetic_dicom
from murad.calibration import apply_temperature, expected_calibration_error
from murad.errors import InputError
from murad.external import check_set, read_set_csv
from murad.generalisation import (
    TABLE6_COLUMNS,
    external_ensembles,
    generalisation_figure,
    kappa_difference,
    measure_set,
    table6_display,
)
from murad.metrics import study_metrics, with_prediction
from murad.operating_points import SavedOperatingPoints
from murad.plotting import apply_style, overlapping_texts
from murad.radiographs import read_radiograph
from murad.result_names import BEST_PER_BODY_PART, top_k_name
from murad.subgroups import kind_subgroups, read_subgroup, subgroup_metrics, table7_display
from murad.synthetic_site import generate_site


def picture(seed: int, size=(40, 56)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : size[1], 0 : size[0]]
    return np.clip(x * 4 + y * 2 + rng.normal(0, 10, (size[1], size[0])), 0, 255).astype(np.uint8)


def a_set(folder, rows: list[tuple], header="path,study,label,body_part") -> str:
    """A set's CSV (``rows`` of cells) beside PNG files for every path that names one (``.png``)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [header]
    for index, row in enumerate(rows):
        lines.append(",".join(map(str, row)))
        if str(row[0]).endswith(".png"):
            (folder / row[0]).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(picture(index)).save(folder / row[0])
    (folder / "studies.csv").write_text("\n".join(lines) + "\n")
    return str(folder / "studies.csv")


GOOD_ROWS = [("a/1.png", "s1", 1, "Knee"), ("a/2.png", "s1", 1, "Knee"), ("b/1.png", "s2", 0, "wrist")]


def test_a_csv_set_is_read_with_its_labels_body_parts_and_image_sizes(tmp_path):
    checked = check_set(a_set(tmp_path, GOOD_ROWS))
    images = checked.images
    assert list(images["path"]) == ["a/1.png", "a/2.png", "b/1.png"] and list(images["row"]) == [2, 3, 4]
    assert list(images["body_part"]) == ["knee", "knee", "wrist"]  # outside MURA's seven: kept as it is
    assert list(images["label"]) == [1, 1, 0] and list(images["patient"]) == ["s1", "s1", "s2"]
    assert set(images["width"]) == {40} and set(images["height"]) == {56} and set(images["kind"]) == {"PNG"}
    assert checked.summary["studies"] == 2 and checked.summary["body_parts"]["knee"] == {"studies": 1, "abnormal": 1}


def test_a_body_part_comes_from_the_csv_an_xr_folder_or_the_dicom_header_else_unknown(tmp_path):
    (tmp_path / "XR_HAND").mkdir()
    Image.fromarray(picture(0)).save(tmp_path / "XR_HAND/x.png")
    synthetic_dicom.write_dicom(picture(1), tmp_path / "scan", "uncompressed_8bit", body_part="ankle")
    Image.fromarray(picture(2)).save(tmp_path / "plain.png")
    rows = [("XR_HAND/x.png", "s1", 0), ("scan", "s2", 1), ("plain.png", "s3", 0)]
    checked = check_set(a_set(tmp_path, rows, header="path,study,label"))
    assert list(checked.images["body_part"]) == ["hand", "ankle", "unknown"]


@pytest.mark.parametrize(
    "rows, message",
    [
        ([("a.png", "s1", 1), ("b.png", "s1", 0)], r"row 3: study s1 has label 0 here but 1 in row 2$"),
        ([("a.png", "s1", 2)], r"row 2, column label: '2' is not 0 or 1 \(1 = abnormal\)$"),
        ([("a.png", "s1", 1), ("a.png", "s2", 1)], r"row 3, column path: a\.png is listed already in row 2$"),
        ([("a.png", "", 1)], r"row 2, column study: empty$"),
        ([("a.png", "s1", 1, "hand"), ("b.png", "s1", 1, "wrist")],
         r"row 3: study s1 has body part wrist here but hand in row 2$"),
        ([("a.png", "s1", 1), ("gone.dcm", "s1", 1), ("also_gone.png.x", "s2", 0)],
         r"row 3: gone\.dcm: no such file \(and 1 more images that cannot be read\)$"),
    ],
    ids=["conflicting labels", "label 2", "listed twice", "empty study", "two body parts", "missing images"],
)  # fmt: skip
def test_a_bad_set_is_refused_in_one_line_naming_file_and_row(tmp_path, rows, message):
    studies = a_set(tmp_path, rows, header="path,study,label" + (",body_part" if len(rows[0]) == 4 else ""))
    with pytest.raises(InputError, match=f"^{studies}: {message}"):
        check_set(studies)


def test_an_unreadable_image_is_refused_with_the_readers_reason(tmp_path):
    studies = a_set(tmp_path, [("a.png", "s1", 1), ("ct.dcm", "s1", 1)], header="path,study,label")
    ct = synthetic_dicom.encoded(picture(3), "uncompressed_8bit")
    ct.Modality = "CT"
    ct.save_as(tmp_path / "ct.dcm", enforce_file_format=True)
    with pytest.raises(InputError, match=r"row 3: ct\.dcm: Modality CT: not a projection radiograph"):
        check_set(studies)


def coco(tmp_path, boxes: list[tuple], width=40, height=56) -> str:
    images = [{"id": 1, "file_name": "a/1.png", "width": width, "height": height}]
    annotations = [
        {"id": 10 + i, "image_id": image_id, "category_id": 1, "bbox": list(box)}
        for i, (image_id, box) in enumerate(boxes)
    ]
    document = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "fracture"}]}
    (tmp_path / "boxes.json").write_text(json.dumps(document))
    return str(tmp_path / "boxes.json")


def test_coco_and_csv_boxes_become_the_half_open_pixel_boxes_that_cover_them(tmp_path):
    studies = a_set(tmp_path, GOOD_ROWS)
    from_coco = check_set(studies, coco(tmp_path, [(1, (2.5, 3, 10, 4.2)), (1, (0, 0, 40, 56))])).boxes
    assert from_coco[["x0", "y0", "x1", "y1"]].values.tolist() == [[2, 3, 13, 8], [0, 0, 40, 56]]
    assert set(from_coco["kind"]) == {"fracture"} and set(from_coco["path"]) == {"a/1.png"}
    (tmp_path / "boxes.csv").write_text("path,x0,y0,x1,y1\nb/1.png,1,2,30,50\n")
    from_csv = check_set(studies, tmp_path / "boxes.csv").boxes
    assert from_csv.iloc[0][["path", "kind", "x0", "y0", "x1", "y1", "width", "height"]].tolist() == [
        "b/1.png", "lesion", 1, 2, 30, 50, 40, 56
    ]  # fmt: skip


@pytest.mark.parametrize(
    "boxes, message",
    [
        ([(1, (30, 40, 20, 20))], r"annotation 0 \(id 10\): the box \(30, 40\) - \(50, 60\) of a/1\.png is empty or "
                                  r"outside the image \(40 x 56\)"),
        ([(2, (1, 1, 2, 2))], r"annotation 0 \(id 10\): image_id 2 is not one of its images"),
        ([(1, (1, 1, 0, 5))], r"annotation 0 \(id 10\): the box .* is empty or outside the image"),
        ([(1, (1, "x", 2, 2))], r"annotation 0 \(id 10\), bbox: 'x' is not a number"),
    ],
    ids=["outside", "unknown image", "empty", "not a number"],
)  # fmt: skip
def test_a_bad_box_is_refused_naming_the_file_and_annotation(tmp_path, boxes, message):
    studies = a_set(tmp_path, GOOD_ROWS)
    with pytest.raises(InputError, match=f"^{tmp_path}/boxes.json: {message}"):
        check_set(studies, coco(tmp_path, boxes))


def test_a_box_naming_an_image_not_in_the_set_or_of_another_size_is_refused(tmp_path):
    studies = a_set(tmp_path, GOOD_ROWS)
    (tmp_path / "boxes.csv").write_text("path,x0,y0,x1,y1\nelsewhere.png,1,2,3,4\n")
    with pytest.raises(InputError, match=r"boxes\.csv: row 2: elsewhere\.png is not an image of the set$"):
        check_set(studies, tmp_path / "boxes.csv")
    with pytest.raises(InputError, match=r"a/1\.png is 41 x 56 there but 40 x 56 on disk$"):
        check_set(studies, coco(tmp_path, [(1, (1, 1, 2, 2))], width=41))


def test_a_mura_layout_folder_reads_as_mura_valid_does(small_mura, tmp_path):
    from murad.mura import read_mura

    valid = small_mura / "MURA-v1.1/valid"
    folder = tmp_path / "site"
    shutil.copytree(valid, folder)
    (folder / "README.txt").write_text("exported 2026\n")
    checked = check_set(folder)
    mura = read_mura(small_mura, "valid")
    expected = mura.assign(path=mura["path"].str.removeprefix("MURA-v1.1/valid/")).sort_values("path")
    got = checked.images.sort_values("path")
    assert got["path"].tolist() == expected["path"].tolist()
    assert got["label"].tolist() == expected["label"].tolist()
    assert got["body_part"].tolist() == expected["body_part"].tolist()
    assert got["study"].tolist() == expected["study"].str.removeprefix("MURA-v1.1/valid/").tolist()
    assert checked.summary["not_images_of_the_set"] == [
        {"path": "README.txt", "reason": "not in a XR_<PART>/<patient>/<study>_positive|negative/ folder"}
    ]
    with pytest.raises(InputError, match="no XR_<PART> folders in it"):
        check_set(small_mura / "MURA-v1.1")


# ---------------------------------------------------------------------------------------- the synthetic site


def test_the_synthetic_site_is_shifted_12_bit_monochrome1_dicom_with_coco_boxes_and_the_same_for_the_same_seed(
    tmp_path,
):
    import pydicom

    for run in ("a", "b"):
        counts = generate_site(tmp_path / run / "studies.csv", tmp_path / run / "boxes.json", tmp_path / run / "images",
                               16, seed=5)  # fmt: skip
    assert counts["studies"] == 16 and counts["boxes"] > 0
    first, second = (sorted((tmp_path / run).rglob("*")) for run in ("a", "b"))
    assert [p.relative_to(tmp_path / "a") for p in first] == [p.relative_to(tmp_path / "b") for p in second]
    assert all(a.is_dir() or a.read_bytes() == b.read_bytes() for a, b in zip(first, second, strict=True))
    dicom = next((tmp_path / "a/images").rglob("*.dcm"))
    header = pydicom.dcmread(dicom)
    assert (header.PhotometricInterpretation, header.BitsStored, header.Modality) == ("MONOCHROME1", 12, "DX")
    assert "WindowCenter" in header and header.BodyPartExamined
    checked = check_set(tmp_path / "a/studies.csv", tmp_path / "a/boxes.json")  # what the workflow's check reads
    assert checked.summary["images"] == counts["images"] and len(checked.boxes) == counts["boxes"]
    assert set(checked.images["kind"]) == {"DICOM"} and "unknown" not in set(checked.images["body_part"])
    sides = checked.images[["width", "height"]].to_numpy()
    assert sides.min() >= 180 and sides.max() <= 640 and sides.max() > 512  # larger than the synthetic MURA's
    assert read_radiograph(tmp_path / "a" / checked.images["path"].iloc[0]).pixels.std() > 20  # a picture, not flat


# ------------------------------------------------------------------------------------ Table 6's measures


def studies_of(seed: int, n: int = 60, parts=("hand", "wrist")) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    prob = np.clip(label * 0.35 + rng.uniform(0, 0.65, n), 0, 1).round(6)
    body_parts = [parts[i % len(parts)] for i in range(n)]
    table = pd.DataFrame(
        {
            "study": [f"s{i:03d}/" for i in range(n)],
            "patient": "p",
            "body_part": body_parts,
            "label": label,
            "prob": prob,
        }
    )
    return with_prediction(table)


def test_table6_rows_match_the_plain_computations_and_nothing_is_chosen_on_the_set():
    tune = {"m1": studies_of(1), "m2": studies_of(2)}
    valid = {"m1": studies_of(3), "m2": studies_of(4)}
    external = {"m1": studies_of(5, parts=("hand", "ankle")), "m2": studies_of(6, parts=("hand", "ankle"))}
    ensembles = external_ensembles(tune, external, 2)
    valid_all = {**valid, **external_ensembles(tune, valid, 2)}
    valid_metrics = {name: study_metrics(table, repetitions=50) for name, table in valid_all.items()}
    saved = {m: SavedOperatingPoints({"rule_out": {"threshold": 0.2}, "best_kappa": {"threshold": 0.5}}, 0.8, "mean")
             for m in tune}  # fmt: skip
    results = measure_set("site", external, tune, valid_all, valid_metrics, saved, {}, 2, repetitions=50)
    table = results.summary.set_index("model")
    assert list(results.summary.columns[: len(TABLE6_COLUMNS)]) == TABLE6_COLUMNS
    for name, studies in {**external, **ensembles}.items():
        expected = cohen_kappa_score(studies["label"], (studies["prob"] > 0.5).astype(int))
        assert table.loc[name, "kappa"] == pytest.approx(expected)
        assert table.loc[name, "delta_kappa"] == pytest.approx(expected - valid_metrics[name].iloc[0]["kappa"])
        assert (
            table.loc[name, "delta_kappa_low"] <= table.loc[name, "delta_kappa"] <= table.loc[name, "delta_kappa_high"]
        )
    m1 = external["m1"]
    scaled = apply_temperature(m1["prob"].to_numpy(), 0.8)  # the tuning split's temperature, applied on the set
    assert table.loc["m1", "ece"] == pytest.approx(expected_calibration_error(m1["label"].to_numpy(), scaled))
    rule_out = (m1["prob"] > 0.2).astype(int)
    assert table.loc["m1", "rule_out_sensitivity"] == pytest.approx(rule_out[m1["label"] == 1].mean())
    assert table.loc["m1", "rule_out_specificity"] == pytest.approx(1 - rule_out[m1["label"] == 0].mean())
    assert np.isnan(table.loc[top_k_name(2), "rule_out_sensitivity"])  # an ensemble carries no operating points
    # the per-body-part ensemble answers the set's ankle (not in MURA, not in tune) with the model best on tune
    best = table.index[table["best_on_tune"].astype(bool)][0]
    ankles = ensembles[BEST_PER_BODY_PART].query("body_part == 'ankle'").set_index("study")["prob"]
    assert ankles.equals(external[best].query("body_part == 'ankle'").set_index("study")["prob"])


def test_the_difference_interval_resamples_both_sets_independently():
    same = studies_of(7, n=400)
    delta, low, high = kappa_difference(same, same, repetitions=300)
    assert delta == 0 and low < 0 < high  # the same set twice: independent resamples still spread
    worse = same.assign(prob=1 - same["prob"])
    delta, low, high = kappa_difference(worse, same, repetitions=300)
    assert delta < -0.5 and high < 0


def table6_of(models: int, sets: int) -> pd.DataFrame:
    rng = np.random.default_rng(models * 10 + sets)
    names = [f"model_{i:02d}_with_a_long_name" for i in range(models - 2)] + [
        "ensemble_best_per_body_part",
        "ensemble_top3_mean",
    ]
    rows = []
    for s in range(sets):
        for index, name in enumerate(names):
            kappa, valid = rng.uniform(-0.1, 0.9, 2)
            rows.append(
                {"set": f"hospital_{s}", "model": name, "n_studies": 200, "kappa": kappa, "kappa_low": kappa - 0.1,
                 "kappa_high": kappa + 0.1, "auc": 0.8, "auc_low": 0.7, "auc_high": 0.9, "kappa_valid": valid,
                 "kappa_valid_low": valid - 0.08, "kappa_valid_high": valid + 0.08, "delta_kappa": kappa - valid,
                 "delta_kappa_low": kappa - valid - 0.1, "delta_kappa_high": kappa - valid + 0.1, "ece": 0.1,
                 "ece_valid": 0.05, "rule_out_sensitivity": 0.9, "rule_out_specificity": 0.4,
                 "best_on_tune": index == 0}
            )  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize("models, sets", [(2, 1), (20, 1), (2, 3), (20, 3), (0, 0)])
def test_the_generalisation_figure_and_table6_read_well_with_few_and_many_models_and_sets(models, sets):
    table = table6_of(models, sets) if models else pd.DataFrame()
    apply_style()
    figure = generalisation_figure(table)
    try:
        assert overlapping_texts(figure) == []
    finally:
        plt.close(figure)
    if models:
        shown = table6_display(table)
        assert len(shown) == models * sets and shown["model"].str.contains(r"\(best on tune\)").sum() == sets


# ------------------------------------------------------------------------------------------- Table 7


def test_subgroups_by_kind_give_each_models_sensitivity_on_that_kind_and_specificity_on_normal(tmp_path):
    valid = studies_of(8, n=90)
    kinds = ["fracture", "hardware", "lytic"]
    abnormal = valid[valid["label"] == 1]["study"].tolist()
    lesions = pd.DataFrame(
        {"path": [f"{s}image1.png" for s in abnormal], "kind": [kinds[i % 3] for i in range(len(abnormal))]}
    )
    groups = kind_subgroups(valid, lesions)
    assert sorted(groups) == ["fracture", "hardware", "lytic", "normal"]
    table = subgroup_metrics({"m": valid}, groups, repetitions=50)
    fracture = set(abnormal[0::3])
    calls = valid[valid["study"].isin(fracture)]["prob"] > 0.5
    row = table.set_index("subgroup").loc["fracture"]
    assert row["sensitivity"] == pytest.approx(calls.mean()) and np.isnan(row["specificity"]) and np.isnan(row["kappa"])
    normal = table.set_index("subgroup").loc["normal"]
    assert normal["specificity"] == pytest.approx((valid[valid["label"] == 0]["prob"] <= 0.5).mean())
    shown = table7_display(table)
    assert shown["subgroup"].str.startswith("fracture (sensitivity").any()


def test_a_subgroup_csv_naming_a_study_not_in_mura_valid_is_refused(tmp_path):
    (tmp_path / "no_metal.csv").write_text("study\ns001\ns002/\nelsewhere/\n")
    with pytest.raises(
        InputError, match=r"no_metal\.csv: row 4, column study: elsewhere/ is not a study of MURA valid$"
    ):
        read_subgroup(str(tmp_path / "no_metal.csv"), {"s001/", "s002/"})
    (tmp_path / "no_metal.csv").write_text("study\ns001\ns002/\n")
    assert read_subgroup(str(tmp_path / "no_metal.csv"), {"s001/", "s002/"}) == {"s001/", "s002/"}


def test_read_set_csv_keeps_the_rows_a_spreadsheet_numbers(tmp_path):
    (tmp_path / "s.csv").write_text("label,study,path\n1,s1,x.png\n\n0,s2,y.png\n")
    assert read_set_csv(tmp_path / "s.csv")["row"].tolist() == [2, 4]


# ------------------------------------------------------------------------------------ on a finished workflow


def valid_again(small_mura, folder) -> tuple[str, str, pd.DataFrame]:
    """MURA valid's own pictures as another site would send them: uncompressed 8-bit DICOM files in one flat folder
    (no XR_ folders: the body part comes from the file's header), listed in a CSV, with the synthetic lesions' boxes
    as COCO JSON; and the path of each file's MURA image."""
    from murad.mura import read_mura

    mura = read_mura(small_mura, "valid")
    lesions = pd.read_csv(small_mura / "lesions.csv").set_index("path")
    (folder / "files").mkdir(parents=True)
    rows, images, annotations = [], [], []
    for number, image in enumerate(mura.itertuples(), start=1):
        name = f"files/{number:04d}.dcm"
        grey = read_radiograph(small_mura / image.path).pixels
        synthetic_dicom.write_dicom(grey, folder / name, "uncompressed_8bit", body_part=image.body_part)
        rows.append({"path": name, "study": image.study.removeprefix("MURA-v1.1/valid/"), "label": image.label,
                     "mura_path": image.path})  # fmt: skip
        images.append({"id": number, "file_name": name, "width": grey.shape[1], "height": grey.shape[0]})
        if image.path in lesions.index:
            box = lesions.loc[image.path]
            bbox = [int(box.x0), int(box.y0), int(box.x1 - box.x0), int(box.y1 - box.y0)]
            annotations.append({"id": len(annotations) + 1, "image_id": number, "category_id": 1, "bbox": bbox})
    table = pd.DataFrame(rows)
    table[["path", "study", "label"]].to_csv(folder / "studies.csv", index=False)
    document = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "lesion"}]}
    (folder / "boxes.json").write_text(json.dumps(document))
    return str(folder / "studies.csv"), str(folder / "boxes.json"), table


def test_mura_valid_re_encoded_as_an_external_set_gives_valids_probabilities_table6_and_localization(
    pipeline, small_mura, tmp_path
):
    import yaml

    from murad.cam import localization, maps

    from .conftest import PIPELINE_MODELS, run_snakemake, snakemake_again
    from .test_stale import planned_jobs

    work = tmp_path / "finished"
    shutil.copytree(pipeline, work, symlinks=True)
    studies, boxes, table = valid_again(small_mura, tmp_path / "site")
    config = yaml.safe_load((work / "config.yaml").read_text())
    config["external"]["valid_again"] = {"studies": studies, "boxes": boxes}
    dry = run_snakemake(work, "-n", config=config)  # adding the set to a finished run trains nothing
    assert dry.returncode == 0, dry.stderr[-3000:]
    planned = planned_jobs(dry.stdout + "\n" + dry.stderr)
    assert {job.rule for job in planned} == {
        "verify_external", "cache_external", "predict_external", "external_metrics", "external_localization",
        "generalisation", "environment", "all",
    }  # fmt: skip
    done = snakemake_again(work, "-c2")
    assert done.returncode == 0, done.stderr[-4000:]

    table6 = pd.read_csv(work / "results/tables/table6.csv").query("set == 'valid_again'").set_index("model")
    tolerance = yaml.safe_load((work / "results/report/config.yaml").read_text())["cam"]["tolerance"]
    for model in PIPELINE_MODELS:
        external = pd.read_csv(work / f"results/external/valid_again/{model}/studies.csv").set_index("study")
        valid = pd.read_csv(work / f"results/predictions/{model}/studies.csv")
        valid = valid.assign(study=valid["study"].str.removeprefix("MURA-v1.1/valid/")).set_index("study")
        assert sorted(external.index) == sorted(valid.index)
        assert np.abs(external["prob"] - valid.loc[external.index, "prob"]).max() <= 1e-6  # the same pixels
        assert (external["body_part"] == valid.loc[external.index, "body_part"]).all()  # from the DICOM headers
        kappa = cohen_kappa_score(external["label"], (external["prob"] > 0.5).astype(int))
        assert table6.loc[model, "kappa"] == pytest.approx(kappa, abs=1e-6)
        # localization: each box scored on the set's map, as on valid's map of the same image
        scores = pd.read_csv(work / f"results/cam/external/valid_again/{model}/scores.csv")
        saved = maps.CamMaps.load(work / f"results/cam/{model}/maps.npz")
        on_valid = dict(zip(saved.paths, saved.maps, strict=True))
        mura_path = dict(zip(table["path"], table["mura_path"], strict=True))
        assert len(scores) == len(json.loads(Path(boxes).read_text())["annotations"]) > 0
        for row in scores.itertuples():
            heat = maps.upsample(on_valid[mura_path[row.path]], row.height, row.width)
            expected = localization.score_map(heat, (row.x0, row.y0, row.x1, row.y1), tolerance)
            assert row.pointing_hit == expected["pointing_hit"] and (row.peak_x, row.peak_y) == (
                expected["peak_x"], expected["peak_y"]
            )  # fmt: skip
            assert row.energy_share == pytest.approx(expected["energy_share"], abs=1e-5)


def test_with_no_external_sets_table6_and_its_figure_say_so(tmp_path):
    from murad.jobs.external import generalisation

    files = {f"table6_{ext}": str(tmp_path / f"table6.{ext}") for ext in ("csv", "md", "tex", "html")}
    style = {"style": "whitegrid", "palette": "colorblind", "dpi": 50}
    generalisation({}, files, str(tmp_path / "g.png"), str(tmp_path / "g.svg"), style)
    assert "no external test sets configured" in (tmp_path / "table6.md").read_text()
    assert "no external test sets configured" in (tmp_path / "g.svg").read_text()


def test_a_bad_external_set_stops_a_local_run_before_any_training(small_mura, tmp_path):
    from .conftest import run_snakemake, tiny_config

    studies = a_set(tmp_path / "site", [("a.png", "s1", 1), ("gone.png.x", "s2", 0)], header="path,study,label")
    config = tiny_config(small_mura, {"resnet18": None})
    config["external"] = {"site_b": {"studies": studies}}
    result = run_snakemake(tmp_path / "work", "-c2", config=config, timeout=600)
    assert result.returncode != 0
    assert (
        f"{studies}: row 3: gone.png.x: no such file"
        in (tmp_path / "work/results/logs/verify_external/site_b.log").read_text()
    )
    assert not (tmp_path / "work/results/models").exists() and not (tmp_path / "work/results/external").exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"path,study,label\nr\xf6ntgen.png,s1,1\n", r"not UTF-8 text \(byte 18 of the file\)"),
        (
            b"path,study,label\na.png,s1,1\nb\x00.png,s2,0\n",
            r"row 3, column path: b\\x00\.png holds a control character",
        ),
        (b'path,study,label\n"cr\rname.png",s1,1\n', r"row 2, column path: cr\\x0dname\.png holds a control character"),
        (b"path,study,label\na.png,s1,1\npipe.png,s2,0\n", r"row 3: pipe\.png: a named pipe \(FIFO\), not a file"),
        (b"path,study,label\na.png,s1,1\nfolder.png,s2,0\n", r"row 3: folder\.png: a folder, not a file"),
    ],
    ids=["latin-1 csv", "nul", "carriage return", "a pipe", "a folder"],
)
def test_names_and_files_a_set_cannot_hold_are_refused_in_one_line_and_nothing_is_opened_that_is_not_a_file(
    tmp_path, content, message
):
    import os

    Image.fromarray(picture(0)).save(tmp_path / "a.png")
    os.mkfifo(tmp_path / "pipe.png")  # opened for reading, it would wait for a writer for ever
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "studies.csv").write_bytes(content)
    with pytest.raises(InputError, match=f"^{tmp_path}/studies.csv: {message}"):
        check_set(tmp_path / "studies.csv")


def test_a_set_folder_with_a_name_that_is_not_utf8_is_refused_naming_it(tmp_path):
    import os

    study = tmp_path / "XR_HAND/p1/study1_positive"
    study.mkdir(parents=True)
    Image.fromarray(picture(0)).save(os.path.join(os.fsencode(study), b"r\xf6ntgen.png"))
    with pytest.raises(InputError, match=r"XR_HAND/p1/study1_positive/r\\xf6ntgen\.png holds a control character"):
        check_set(tmp_path)
