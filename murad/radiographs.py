"""Reading one radiograph file as the 8-bit grayscale picture a person would see, whatever its format.

Every image murad reads goes through :func:`read_radiograph`: the training caches, the CAM overlays, the dataset
check and ``murad predict``. What the file holds decides how it is read, never its name:

- **DICOM** (the ``DICM`` marker at byte 128), with pydicom, as a viewer shows it: the pixel data decoded (uncompressed,
  RLE, and with the pylibjpeg plugins JPEG baseline, JPEG lossless and JPEG 2000), then the modality LUT (rescale
  slope and intercept, or a Modality LUT Sequence), then the first VOI LUT or window, then mapped linearly from the
  range those can give onto 0-255 (with no VOI LUT or window, the range the stored bits can hold: a 12-bit image over
  0-4095), and MONOCHROME1 inverted (0 is white). Single-frame grayscale only: multi-frame and colour files are
  refused.
- **PNG and JPEG**, with Pillow: converted to grayscale as ``Image.convert("L")`` does (ITU-R 601-2 luma); a 16-bit
  PNG is scaled from 0-65535 onto 0-255 (``convert`` would clip it).

:func:`load_radiograph` then squashes the picture to the square the models see (bilinear, as the paper resized to
320 x 320): the one resizing path for training, evaluation and prediction.
"""

from __future__ import annotations

import logging
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

DICOM_MARKER = b"DICM"
DICOM_MARKER_OFFSET = 128
PIL_FORMATS = frozenset({"PNG", "JPEG", "MPO"})  # MPO: a JPEG with extra frames (some cameras); Pillow names it so
GRAYSCALE = ("MONOCHROME1", "MONOCHROME2")
SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I"})
_DICOM_LOCK = threading.Lock()


class RadiographError(ValueError):
    """A file that cannot be read as a radiograph; the message says why (the caller names the file)."""


@dataclass(frozen=True)
class Radiograph:
    pixels: np.ndarray  # (height, width) uint8, as a viewer shows it
    kind: str  # "PNG", "JPEG" or "DICOM"
    body_part: str | None = None  # DICOM BodyPartExamined, lower case, when the file gives it


def is_dicom(path: str | Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(DICOM_MARKER_OFFSET + len(DICOM_MARKER))
    return head[DICOM_MARKER_OFFSET:] == DICOM_MARKER


def read_radiograph(path: str | Path) -> Radiograph:
    """The file at ``path`` as 8-bit grayscale; :class:`RadiographError` says why when it cannot be."""
    try:
        dicom = is_dicom(path)
    except OSError as error:
        raise RadiographError(f"cannot be read ({error.strerror or error})") from None
    return _read_dicom(path) if dicom else _read_picture(path)


def load_radiograph(path: str | Path, size: int | None = None) -> np.ndarray:
    """One image as grayscale uint8: ``size x size`` (squashed to a square), or at its own size when ``size`` is
    None. Raises :class:`RadiographError` for a file that is not a readable radiograph."""
    return squash(read_radiograph(path).pixels, size)


def squash(pixels: np.ndarray, size: int | None) -> np.ndarray:
    """A grayscale picture resized to ``size x size`` (bilinear; the aspect ratio is not kept, as in the paper)."""
    if size is None:
        return pixels
    picture = Image.fromarray(pixels)
    return np.asarray(picture.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of a radiograph file, from its header where the format allows."""
    if is_dicom(path):
        import pydicom

        header = pydicom.dcmread(path, stop_before_pixels=True)
        return int(header.Columns), int(header.Rows)
    with Image.open(path) as picture:
        return picture.size


# ------------------------------------------------------------------------------------------------- PNG and JPEG


def _read_picture(path: str | Path) -> Radiograph:
    try:
        with Image.open(path) as picture:
            if picture.format not in PIL_FORMATS:
                raise RadiographError(f"a {picture.format} image: not a PNG, JPEG or DICOM file")
            picture.load()
            kind = "JPEG" if picture.format == "MPO" else picture.format
            if picture.mode in SIXTEEN_BIT_MODES:
                values = np.asarray(picture, dtype=np.float64)
                return Radiograph(np.clip(np.rint(values / 257), 0, 255).astype(np.uint8), kind)
            return Radiograph(np.asarray(picture.convert("L"), dtype=np.uint8), kind)
    except UnidentifiedImageError:
        raise RadiographError("not a PNG, JPEG or DICOM file") from None
    except RadiographError:
        raise
    except Exception as error:  # Pillow's ways of saying a file is broken are many (OSError, SyntaxError, struct...)
        raise RadiographError(f"unreadable image ({_said(error)})") from None


# ------------------------------------------------------------------------------------------------------- DICOM


def _read_dicom(path: str | Path) -> Radiograph:
    """A DICOM file read while pydicom's warnings are caught: the one that says the file ended inside an element
    (where pydicom keeps what it read, or drops the pixel data) makes it a truncated file. Catching warnings changes
    process-wide state, so DICOM files are read one at a time."""
    pydicom_log = logging.getLogger("pydicom")  # pydicom logs each warning too; the reason says it for the file
    with _DICOM_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pydicom_log.disabled = True
        try:
            radiograph, error = _decode_dicom(path), None
        except RadiographError as refused:
            radiograph, error = None, refused
        finally:
            pydicom_log.disabled = False
    if any("End of file" in str(w.message) for w in caught):
        raise RadiographError("a truncated DICOM file (it ends inside an element)")
    if error is not None:
        raise error
    return radiograph


def _decode_dicom(path: str | Path) -> Radiograph:
    """pydicom on untrusted bytes raises many kinds of error (struct, index, value, the decoders' own); each is a
    reason for this file, never a traceback."""
    import pydicom

    try:
        dataset = pydicom.dcmread(path)
    except Exception as error:
        raise RadiographError(f"unreadable DICOM ({_said(error)})") from None
    try:
        _check_dicom(dataset)
        stored = dataset.pixel_array
    except RadiographError:
        raise
    except Exception as error:
        syntax = dataset.file_meta.get("TransferSyntaxUID", "unknown transfer syntax")
        raise RadiographError(
            f"DICOM pixel data not decoded ({getattr(syntax, 'name', syntax)}: {_said(error)})"
        ) from None
    if stored.ndim != 2:
        raise RadiographError(f"DICOM pixel data of shape {stored.shape}, not one grayscale frame")
    try:
        pixels = dicom_grayscale(dataset, stored)
    except RadiographError:
        raise
    except Exception as error:
        raise RadiographError(f"DICOM pixel values not mapped to grey levels ({_said(error)})") from None
    body_part = str(dataset.get("BodyPartExamined", "") or "").strip().lower() or None
    return Radiograph(pixels, "DICOM", body_part)


def _said(error: Exception) -> str:
    """An exception's first line, or its kind when it has no message."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _check_dicom(dataset) -> None:
    if "PixelData" not in dataset:
        raise RadiographError("a DICOM file without pixel data (not an image, or cut short)")
    frames = dataset.get("NumberOfFrames", 1)
    try:
        frames = int(frames or 1)
    except (TypeError, ValueError):
        raise RadiographError(f"DICOM NumberOfFrames {frames!r} is not a number") from None
    if frames > 1:
        raise RadiographError(f"a multi-frame DICOM ({frames} frames), not a single radiograph")
    photometric = str(dataset.get("PhotometricInterpretation", "")).strip()
    samples = dataset.get("SamplesPerPixel", 1)
    if samples != 1 or photometric not in GRAYSCALE:
        raise RadiographError(f"a colour DICOM ({photometric or 'no PhotometricInterpretation'}, {samples} samples)")
    for keyword in ("BitsStored", "Rows", "Columns"):
        if not isinstance(dataset.get(keyword), int) or dataset.get(keyword) <= 0:
            raise RadiographError(f"DICOM {keyword} missing or not a positive number")


def _modality_range(dataset) -> tuple[float, float]:
    """The values the modality LUT can give: from the LUT's bit depth, or the stored bits through the rescale."""
    if dataset.get("ModalityLUTSequence"):
        return 0.0, float(2 ** dataset.ModalityLUTSequence[0].LUTDescriptor[2] - 1)
    bits = int(dataset.BitsStored)
    signed = dataset.get("PixelRepresentation", 0) == 1
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    slope, intercept = dataset.get("RescaleSlope"), dataset.get("RescaleIntercept")
    if slope is not None and intercept is not None:
        ends = sorted((low * float(slope) + float(intercept), high * float(slope) + float(intercept)))
        return ends[0], ends[1]
    return float(low), float(high)


def dicom_grayscale(dataset, stored: np.ndarray) -> np.ndarray:
    """Stored pixel values -> what a viewer shows, as uint8: modality LUT, then the first VOI LUT or window
    (pydicom's), then the output range onto 0-255, MONOCHROME1 inverted."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    values = apply_modality_lut(stored, dataset)
    low, high = _modality_range(dataset)
    if dataset.get("VOILUTSequence"):
        low, high = 0.0, float(2 ** dataset.VOILUTSequence[0].LUTDescriptor[2] - 1)
        values = apply_voi_lut(values, dataset, prefer_lut=True)
    elif "WindowCenter" in dataset and "WindowWidth" in dataset:
        values = apply_voi_lut(values, dataset, prefer_lut=False)  # windowing maps onto the same range
    if high <= low:
        raise RadiographError(f"DICOM pixel value range [{low}, {high}] is empty")
    grey = np.clip(np.rint((np.asarray(values, dtype=np.float64) - low) * (255 / (high - low))), 0, 255)
    grey = grey.astype(np.uint8)
    return 255 - grey if str(dataset.PhotometricInterpretation).strip() == "MONOCHROME1" else grey
