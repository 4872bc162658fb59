"""Reading radiographs as a viewer shows them: PNG, JPEG and DICOM (each encoding murad reads), and the refusals."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from murad import synthetic_dicom
from murad.radiographs import RadiographError, image_size, load_radiograph, read_radiograph

GREY = np.random.default_rng(0).integers(0, 256, (37, 53), dtype=np.uint8)


@pytest.mark.parametrize("encoding", sorted(set(synthetic_dicom.ENCODINGS) - synthetic_dicom.LOSSY))
def test_each_lossless_dicom_encoding_reads_back_the_picture_exactly(tmp_path, encoding):
    path = tmp_path / "IMG0001"  # no extension: recognised by its content
    synthetic_dicom.write_dicom(GREY, path, encoding, body_part="wrist")
    radiograph = read_radiograph(path)
    assert radiograph.kind == "DICOM" and radiograph.body_part == "wrist"
    assert radiograph.pixels.dtype == np.uint8 and np.array_equal(radiograph.pixels, GREY)
    assert image_size(path) == (53, 37)


def test_jpeg_baseline_dicom_reads_as_the_same_jpeg_file_does_within_one_grey_level(tmp_path):
    synthetic_dicom.write_dicom(GREY, tmp_path / "jpeg.dcm", "jpeg_baseline")
    Image.fromarray(GREY).save(tmp_path / "same.jpg", quality=95)
    from_dicom = read_radiograph(tmp_path / "jpeg.dcm").pixels.astype(int)
    from_file = read_radiograph(tmp_path / "same.jpg").pixels.astype(int)
    assert np.abs(from_dicom - from_file).max() <= 1  # libjpeg (pylibjpeg) and Pillow's libjpeg-turbo round apart


def test_monochrome1_is_inverted_and_the_window_is_applied(tmp_path):
    # MONOCHROME1: stored 0 is white
    ramp = np.tile(np.arange(0, 256, 5, dtype=np.uint8), (4, 1))
    synthetic_dicom.write_dicom(ramp, tmp_path / "m1.dcm", "monochrome1_12bit")
    dataset = __import__("pydicom").dcmread(tmp_path / "m1.dcm")
    assert dataset.pixel_array[0, 0] == 4095 and np.array_equal(read_radiograph(tmp_path / "m1.dcm").pixels, ramp)
    # a narrower window clips: centre 13150.5 +- a quarter of the width shows only the middle grey levels
    dataset = synthetic_dicom.encoded(ramp, "rescaled_16bit_window")
    dataset.WindowWidth = 12751
    dataset.save_as(tmp_path / "narrow.dcm", enforce_file_format=True)
    shown = read_radiograph(tmp_path / "narrow.dcm").pixels
    assert shown[0, 0] == 0 and shown[0, -1] == 255 and 0 < shown[0, len(ramp[0]) // 2] < 255


def test_png_and_jpeg_are_converted_to_grayscale_and_a_16_bit_png_is_scaled_not_clipped(tmp_path):
    rgb = np.stack([GREY, GREY // 2, 255 - GREY], axis=2)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    assert np.array_equal(read_radiograph(tmp_path / "rgb.png").pixels, np.asarray(Image.fromarray(rgb).convert("L")))
    Image.fromarray(GREY.astype(np.uint16) * 257).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    assert np.array_equal(read_radiograph(tmp_path / "deep.png").pixels, GREY)
    assert load_radiograph(tmp_path / "deep.png", 16).shape == (16, 16)


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda p: p.write_text("not an image\n"), "not a PNG, JPEG or DICOM file"),
        (lambda p: Image.fromarray(GREY).save(p, format="BMP"), "a BMP image: not a PNG, JPEG or DICOM file"),
        (lambda p: synthetic_dicom.multi_frame(GREY, p), "a multi-frame DICOM (3 frames)"),
        (lambda p: synthetic_dicom.colour(GREY, p), "a colour DICOM (RGB, 3 samples)"),
        (lambda p: p.write_bytes(b""), "not a PNG, JPEG or DICOM file"),
    ],
    ids=["text", "bmp", "multi-frame", "colour", "empty"],
)
def test_what_is_not_a_readable_radiograph_is_refused_with_a_reason(tmp_path, make, reason):
    path = tmp_path / "file"
    make(path)
    with pytest.raises(RadiographError, match="^" + __import__("re").escape(reason)):
        read_radiograph(path)


@pytest.mark.parametrize("encoding", ["uncompressed_8bit", "rle", "jpeg2000"])
def test_a_truncated_dicom_or_png_is_refused_with_a_reason(tmp_path, encoding):
    path = tmp_path / "cut.dcm"
    synthetic_dicom.write_dicom(GREY, path, encoding)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 600])
    with pytest.raises(RadiographError, match="DICOM"):
        read_radiograph(path)
    Image.fromarray(GREY).save(tmp_path / "cut.png")
    png = (tmp_path / "cut.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(png[: len(png) // 2])
    with pytest.raises(RadiographError, match="unreadable image"):
        read_radiograph(tmp_path / "cut.png")
