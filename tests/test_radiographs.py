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
    ramp = np.tile(np.arange(256, dtype=np.uint8), (4, 1))
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


# ------------------------------------------------------------------------ what a viewer shows, or why not


def dicom_file(path, grey=GREY, encoding="uncompressed_8bit", **header):
    """``grey`` as a DICOM file, with header elements set (a value) or removed (None)."""
    dataset = synthetic_dicom.encoded(grey, encoding)
    for keyword, value in header.items():
        if value is None:
            delattr(dataset, keyword)
        else:
            setattr(dataset, keyword, value)
    dataset.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize("modality", ["CR", "DX", "RG", "RF", "XA", "OT", None])
def test_projection_radiographs_and_files_without_a_modality_are_read(tmp_path, modality):
    path = dicom_file(tmp_path / "x.dcm", Modality=modality)
    assert np.array_equal(read_radiograph(path).pixels, GREY)


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header says ``width x height`` (its data is a few bytes: it must be refused before decoding)."""
    import struct
    import zlib

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + header
    ihdr = struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    data = zlib.compress(b"\0" * 16)
    idat = struct.pack(">I", len(data)) + b"IDAT" + data + struct.pack(">I", zlib.crc32(b"IDAT" + data))
    return b"\x89PNG\r\n\x1a\n" + ihdr + idat + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))


REFUSED_DICOM = [
    ("CT", {"Modality": "CT"}, "Modality CT: not a projection radiograph (murad reads CR, DX, OT, RF, RG, XA or none)"),
    ("RTDOSE", {"Modality": "RTDOSE"}, "Modality RTDOSE: not a projection radiograph"),
    ("no photometric", {"PhotometricInterpretation": None},
     "a DICOM file without PhotometricInterpretation (whether 0 is black or white)"),
    ("window far off", {"WindowCenter": 5000, "WindowWidth": 10},
     "nearly flat as a viewer would show it (1 grey levels, the middle 98% of pixels within 1; fewer than 32: its "
     "window or bit depth does not fit the picture)"),
    ("10000 x 10000", {"Rows": 10000, "Columns": 10000}, "10000 x 10000 pixels: over the limit of 50 megapixels"),
]  # fmt: skip


@pytest.mark.parametrize("header, reason", [case[1:] for case in REFUSED_DICOM], ids=[c[0] for c in REFUSED_DICOM])
def test_a_dicom_that_is_not_a_projection_radiograph_or_not_shown_as_one_is_refused_saying_why(
    tmp_path, header, reason
):
    path = dicom_file(tmp_path / "x.dcm", **header)
    with pytest.raises(RadiographError) as refused:
        read_radiograph(path)
    assert str(refused.value).startswith(reason)


def test_a_picture_larger_than_the_limit_is_refused_before_its_pixels_are_decoded(tmp_path):
    (tmp_path / "huge.png").write_bytes(png_claiming(10000, 9000))
    with pytest.raises(RadiographError, match=r"^10000 x 9000 pixels: over the limit of 50 megapixels$"):
        read_radiograph(tmp_path / "huge.png")
    (tmp_path / "fine.png").write_bytes(png_claiming(7000, 7000))  # 49 megapixels: decoded (and found cut short)
    with pytest.raises(RadiographError, match="^unreadable image"):
        read_radiograph(tmp_path / "fine.png")


def test_what_the_dicom_libraries_log_joins_the_reason_and_nothing_reaches_stderr(tmp_path, capfd):
    import logging

    from pydicom.encaps import encapsulate

    dataset = synthetic_dicom.encoded(GREY, "jpeg2000")
    dataset.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"not a codestream" * 8])
    dataset.save_as(tmp_path / "broken.dcm", enforce_file_format=True)
    logging.basicConfig(level=logging.INFO, force=True)  # as the murad command sets up its log on stderr
    try:
        with pytest.raises(RadiographError) as refused:
            read_radiograph(tmp_path / "broken.dcm")
    finally:
        logging.basicConfig(level=logging.WARNING, force=True, handlers=[logging.NullHandler()])
    reason = str(refused.value)
    assert "\n" not in reason and "raised by all available plugins: pylibjpeg: Error decoding the J2K data" in reason
    assert capfd.readouterr().err == ""


def special_files(folder):
    """A folder, a link to it, a named pipe, a socket, a broken link: what each is named."""
    import os
    import socket

    (folder / "a_folder").mkdir()
    (folder / "link_to_folder").symlink_to(folder / "a_folder")
    os.mkfifo(folder / "pipe")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(folder / "socket"))
    server.close()
    (folder / "broken").symlink_to(folder / "nothing")
    return {
        "a_folder": "a folder, not a file",
        "link_to_folder": "a link to a folder (links to folders are not followed)",
        "pipe": "a named pipe (FIFO), not a file",
        "socket": "a socket, not a file",
        "broken": "a link to nothing (broken link)",
        "missing": "no such file",
        "nul\0byte": "its name holds a NUL byte, which no file name can",
        "/dev/null": "a device, not a file",
    }


def test_what_is_not_a_regular_file_is_named_and_never_opened(tmp_path):
    import threading

    for name, reason in special_files(tmp_path).items():
        outcome = []

        def attempt(path=tmp_path / name, outcome=outcome):
            try:
                read_radiograph(path)
            except RadiographError as error:
                outcome.append(str(error))

        reader = threading.Thread(target=attempt, daemon=True)
        reader.start()
        reader.join(10)  # a named pipe opened for reading would wait for a writer for ever
        assert outcome == [reason], name


def readme_reasons() -> list:
    """The README's list of why a file is not read, each as a pattern (``<...>`` stands for anything)."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text[text.index("**Why a file is not read**") : text.index("What pydicom and the decoders log")]
    templates = re.findall(r"`([^`]+)`", " ".join(section.split()))
    return [
        re.compile(re.sub(r"<[^>]+>", ".+", re.escape(t).replace(r"\<", "<").replace(r"\>", ">"))) for t in templates
    ]


def test_the_readme_lists_every_reason_a_file_is_not_read(tmp_path):
    from pydicom.encaps import encapsulate

    reasons = list(special_files(tmp_path).values())
    for name, make in {
        "text": lambda p: p.write_text("not an image\n"),
        "bmp": lambda p: Image.fromarray(GREY).save(p, format="BMP"),
        "huge.png": lambda p: p.write_bytes(png_claiming(10000, 9000)),
        "cut.png": lambda p: p.write_bytes(png_claiming(64, 64)),  # its data is short of 64 x 64
        "multi": lambda p: synthetic_dicom.multi_frame(GREY, p),
        "colour": lambda p: synthetic_dicom.colour(GREY, p),
    }.items():
        make(tmp_path / name)
        with pytest.raises(RadiographError) as refused:
            read_radiograph(tmp_path / name)
        reasons.append(str(refused.value))
    for index, (_, header, _) in enumerate(REFUSED_DICOM):
        with pytest.raises(RadiographError) as refused:
            read_radiograph(dicom_file(tmp_path / f"{index}.dcm", **header))
        reasons.append(str(refused.value))
    broken = synthetic_dicom.encoded(GREY, "jpeg2000")
    broken.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"not a codestream" * 8])
    broken.save_as(tmp_path / "broken.dcm", enforce_file_format=True)
    synthetic_dicom.write_dicom(GREY, tmp_path / "cut.dcm", "rle")
    data = (tmp_path / "cut.dcm").read_bytes()
    (tmp_path / "cut.dcm").write_bytes(data[: len(data) // 2])
    dicom_file(tmp_path / "pixels.dcm", PixelData=None)
    for name in ("broken.dcm", "cut.dcm", "pixels.dcm"):
        with pytest.raises(RadiographError) as refused:
            read_radiograph(tmp_path / name)
        reasons.append(str(refused.value))
    listed = readme_reasons()
    assert len(listed) > 25
    assert [reason for reason in reasons if not any(p.fullmatch(reason) for p in listed)] == []
