"""Reading one radiograph file as the 8-bit grayscale picture a person would see, whatever its format.

Every image murad reads goes through :func:`read_radiograph`: the training caches, the CAM overlays, the dataset
check and ``murad predict``. A path is opened only when it is a regular file (directly or through links): folders,
named pipes, sockets and devices are named as such and never opened for reading. What the file holds decides how it
is read, never its name:

- **DICOM** (the ``DICM`` marker at byte 128), with pydicom, as a viewer shows it: the pixel data decoded (uncompressed,
  RLE, and with the pylibjpeg plugins JPEG baseline, JPEG lossless and JPEG 2000), then the modality LUT (rescale
  slope and intercept, or a Modality LUT Sequence), then the first VOI LUT or window, then mapped linearly from the
  range those can give onto 0-255, and MONOCHROME1 inverted (0 is white). Without a VOI LUT or window, the range is
  the image's own: that of the whole bits its values use (at least 8, at most BitsStored), so a 12-bit picture stored
  in 16 bits is shown over 0-4095, as its own detector's range. Refused, each with its reason: modalities that are
  not projection radiographs (CT, MR, ...), multi-frame, colour and PhotometricInterpretation-less files, more than
  :data:`MAX_PIXELS` (before decoding), and a picture still nearly flat after all that (:func:`flatness`: a window or
  bit depth that does not fit the picture). pydicom's and the decoders' own log lines and warnings become part of
  the file's reason, never output of their own.
- **PNG and JPEG**, with Pillow: converted to grayscale as ``Image.convert("L")`` does (ITU-R 601-2 luma); a 16-bit
  PNG is scaled from 0-65535 onto 0-255 (``convert`` would clip it). More than :data:`MAX_PIXELS` is refused before
  decoding too.

:func:`load_radiograph` then squashes the picture to the square the models see (bilinear, as the paper resized to
320 x 320): the one resizing path for training, evaluation and prediction.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import warnings
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

DICOM_MARKER = b"DICM"
DICOM_MARKER_OFFSET = 128
PIL_FORMATS = frozenset({"PNG", "JPEG", "MPO"})  # MPO: a JPEG with extra frames (some cameras); Pillow names it so
GRAYSCALE = ("MONOCHROME1", "MONOCHROME2")
SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I"})
# Width x height above which a file is refused before its pixels are decoded: a 16-bit picture that size takes
# 100 MB stored and 400 MB as the numbers the mapping computes with; the largest radiographs (a 43 x 43 cm detector
# at 100 micrometres, long-leg stitches) are below 20 megapixels.
MAX_PIXELS = 50_000_000
# DICOM modalities read: projection radiographs (computed, digital, radiographic, fluoroscopy, angiography), other
# (OT, often a secondary capture of one) and files that name none. CT, MR, PT, NM, US, RTDOSE, SEG, ... are refused.
PROJECTION_MODALITIES = frozenset({"CR", "DX", "RG", "RF", "XA", "OT", ""})
# A picture shown with fewer grey levels than this, or whose middle 98% of pixels lie within fewer, is nearly flat
# (:func:`flatness`). 32 levels (5 bits) is where contour banding makes a radiograph unreadable to a person; a
# radiograph of bone in soft tissue uses far more (every synthetic image over 150, as do pictures from MURA), while
# the failures this catches use far fewer: a 12-bit picture mapped over 16 bits shows 17, a dose map 1.
FLAT_LEVELS = 32
# Loggers of the DICOM libraries: while a file is read, what they log is collected for its reason, not printed.
DICOM_LOGGERS = ("pydicom", "pylibjpeg", "openjpeg", "_openjpeg", "libjpeg")
_DICOM_LOCK = threading.Lock()
# murad refuses pictures over MAX_PIXELS itself, before decoding: Pillow's own, higher limit would only add a warning
# on stderr (89 to 179 megapixels) or an error of another wording (above).
Image.MAX_IMAGE_PIXELS = None


class RadiographError(ValueError):
    """A file that cannot be read as a radiograph; the message says why (the caller names the file)."""


@dataclass(frozen=True)
class Radiograph:
    pixels: np.ndarray  # (height, width) uint8, as a viewer shows it
    kind: str  # "PNG", "JPEG" or "DICOM"
    body_part: str | None = None  # DICOM BodyPartExamined, lower case, when the file gives it


def _not_a_file(mode: int, link: bool) -> str | None:
    """Why a path of this ``stat`` mode is not opened (None: a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a link to a folder (links to folders are not followed)" if link else "a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not a file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a file"
    return "not a regular file"


def _cannot_open(error: OSError) -> RadiographError:
    return RadiographError(f"cannot be read ({error.strerror or type(error).__name__})")


@contextmanager
def open_regular(path: str | Path):
    """``path`` opened for binary reading, only if it is a regular file (directly or through links); else
    :class:`RadiographError` saying what it is. Nothing else is ever opened: the kind is checked before opening, and
    again on what was opened (without blocking: a named pipe put in its place cannot hang the reader)."""
    try:
        mode = os.stat(path).st_mode
    except ValueError:
        raise RadiographError("its name holds a NUL byte, which no file name can") from None
    except FileNotFoundError:
        raise RadiographError("a link to nothing (broken link)" if os.path.islink(path) else "no such file") from None
    except OSError as error:
        raise _cannot_open(error) from None
    reason = _not_a_file(mode, os.path.islink(path))
    if reason:
        raise RadiographError(reason)
    with ExitStack() as opened:
        try:
            handle = opened.enter_context(open(path, "rb", opener=_open_without_waiting))
        except OSError as error:
            raise _cannot_open(error) from None
        reason = _not_a_file(os.fstat(handle.fileno()).st_mode, False)
        if reason:
            raise RadiographError(reason)
        yield handle


def _open_without_waiting(path, flags: int) -> int:
    return os.open(path, flags | os.O_NONBLOCK | os.O_NOCTTY)


def _is_dicom(handle) -> bool:
    head = handle.read(DICOM_MARKER_OFFSET + len(DICOM_MARKER))
    handle.seek(0)
    return head[DICOM_MARKER_OFFSET:] == DICOM_MARKER


def read_radiograph(path: str | Path) -> Radiograph:
    """The file at ``path`` as 8-bit grayscale; :class:`RadiographError` says why when it cannot be."""
    with open_regular(path) as handle:
        try:
            dicom = _is_dicom(handle)
        except OSError as error:
            raise _cannot_open(error) from None
        return _read_dicom(handle) if dicom else _read_picture(handle)


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
    with open_regular(path) as handle:
        if _is_dicom(handle):
            import pydicom

            header = pydicom.dcmread(handle, stop_before_pixels=True)
            return int(header.Columns), int(header.Rows)
        with Image.open(handle) as picture:
            return picture.size


def _check_pixels(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise RadiographError(f"{width} x {height} pixels: over the limit of {MAX_PIXELS // 1_000_000} megapixels")


# ------------------------------------------------------------------------------------------------- PNG and JPEG


def _read_picture(handle) -> Radiograph:
    try:
        with Image.open(handle) as picture:
            if picture.format not in PIL_FORMATS:
                raise RadiographError(f"a {picture.format} image: not a PNG, JPEG or DICOM file")
            _check_pixels(*picture.size)
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
        raise RadiographError(f"unreadable image ({said(error)})") from None


# ------------------------------------------------------------------------------------------------------- DICOM


class _Collected(logging.Handler):
    """What the DICOM libraries log while one file is read, one line per record."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(" ".join(record.getMessage().split()))


@contextmanager
def _dicom_libraries_quiet():
    """The DICOM libraries' log records and warnings collected instead of printed: (collected log, warnings).
    Catching warnings changes process-wide state, so DICOM files are read one at a time."""
    collected = _Collected()
    loggers = [logging.getLogger(name) for name in DICOM_LOGGERS]
    with _DICOM_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kept = [(logger.propagate, logger.handlers) for logger in loggers]
        for logger in loggers:
            logger.propagate, logger.handlers = False, [collected]
        try:
            yield collected.lines, caught
        finally:
            for logger, (propagate, handlers) in zip(loggers, kept, strict=True):
                logger.propagate, logger.handlers = propagate, handlers


def _read_dicom(handle) -> Radiograph:
    """A DICOM file read while what pydicom and the decoders log or warn is collected: the warning that the file
    ended inside an element (where pydicom keeps what it read, or drops the pixel data) makes it a truncated file;
    on a refusal, whatever else they said joins the reason."""
    with _dicom_libraries_quiet() as (logged, caught):
        try:
            radiograph, error = _decode_dicom(handle), None
        except RadiographError as refused:
            radiograph, error = None, refused
    said_too = [" ".join(str(w.message).split()) for w in caught] + logged
    if any("End of file" in line for line in said_too):
        raise RadiographError("a truncated DICOM file (it ends inside an element)")
    if error is not None:
        reason = str(error)
        extra = list(dict.fromkeys(line for line in said_too if line and line not in reason))
        raise RadiographError("; ".join([reason, *extra]))
    return radiograph


def _decode_dicom(handle) -> Radiograph:
    """pydicom on untrusted bytes raises many kinds of error (struct, index, value, the decoders' own); each is a
    reason for this file, never a traceback."""
    import pydicom

    try:
        dataset = pydicom.dcmread(handle)
    except Exception as error:
        raise RadiographError(f"unreadable DICOM ({said(error)})") from None
    try:
        _check_dicom(dataset)
        stored = dataset.pixel_array
    except RadiographError:
        raise
    except Exception as error:
        syntax = dataset.file_meta.get("TransferSyntaxUID", "unknown transfer syntax")
        raise RadiographError(
            f"DICOM pixel data not decoded ({getattr(syntax, 'name', syntax)}: {said(error)})"
        ) from None
    if stored.ndim != 2:
        raise RadiographError(f"DICOM pixel data of shape {stored.shape}, not one grayscale frame")
    try:
        pixels = dicom_grayscale(dataset, stored)
    except RadiographError:
        raise
    except Exception as error:
        raise RadiographError(f"DICOM pixel values not mapped to grey levels ({said(error)})") from None
    flat = flatness(pixels)
    if flat:
        raise RadiographError(flat)
    body_part = str(dataset.get("BodyPartExamined", "") or "").strip().lower() or None
    return Radiograph(pixels, "DICOM", body_part)


def said(error: Exception) -> str:
    """An exception's message on one line (a multi-line message, such as pydicom's list of every decoder's error,
    joined), or its kind when it has no message."""
    lines = [" ".join(line.split()) for line in str(error).splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return type(error).__name__
    return " ".join([lines[0], "; ".join(lines[1:])]).strip()


def _check_dicom(dataset) -> None:
    """What can be told from the header, before any pixel is decoded."""
    if "PixelData" not in dataset:
        raise RadiographError("a DICOM file without pixel data (not an image, or cut short)")
    modality = str(dataset.get("Modality", "") or "").strip().upper()
    if modality not in PROJECTION_MODALITIES:
        readable = ", ".join(sorted(PROJECTION_MODALITIES - {""}))
        raise RadiographError(f"Modality {modality}: not a projection radiograph (murad reads {readable} or none)")
    frames = dataset.get("NumberOfFrames", 1)
    try:
        frames = int(frames or 1)
    except (TypeError, ValueError):
        raise RadiographError(f"DICOM NumberOfFrames {frames!r} is not a number") from None
    if frames > 1:
        raise RadiographError(f"a multi-frame DICOM ({frames} frames), not a single radiograph")
    photometric = str(dataset.get("PhotometricInterpretation", "") or "").strip()
    samples = dataset.get("SamplesPerPixel", 1)
    if not photometric:
        raise RadiographError("a DICOM file without PhotometricInterpretation (whether 0 is black or white)")
    if samples != 1 or photometric not in GRAYSCALE:
        raise RadiographError(f"a colour DICOM ({photometric}, {samples} samples)")
    for keyword in ("BitsStored", "Rows", "Columns"):
        if not isinstance(dataset.get(keyword), int) or dataset.get(keyword) <= 0:
            raise RadiographError(f"DICOM {keyword} missing or not a positive number")
    _check_pixels(int(dataset.Columns), int(dataset.Rows))


def bits_used(dataset, stored: np.ndarray) -> int:
    """The whole bits the stored values use: at least 8 (an 8-bit picture keeps its grey levels), at most the
    declared BitsStored; two's complement for signed pixels."""
    declared = int(dataset.BitsStored)
    top, bottom = int(stored.max()), int(stored.min())
    if dataset.get("PixelRepresentation", 0) == 1:
        needed = max(top.bit_length(), (~bottom if bottom < 0 else bottom).bit_length()) + 1
    else:
        needed = top.bit_length()
    return min(declared, max(8, needed))


def _modality_range(dataset, bits: int | None = None) -> tuple[float, float]:
    """The values the modality LUT can give: from the LUT's bit depth, or ``bits`` stored bits (default BitsStored)
    through the rescale."""
    if dataset.get("ModalityLUTSequence"):
        return 0.0, float(2 ** dataset.ModalityLUTSequence[0].LUTDescriptor[2] - 1)
    bits = int(dataset.BitsStored) if bits is None else bits
    signed = dataset.get("PixelRepresentation", 0) == 1
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    slope, intercept = dataset.get("RescaleSlope"), dataset.get("RescaleIntercept")
    if slope is not None and intercept is not None:
        ends = sorted((low * float(slope) + float(intercept), high * float(slope) + float(intercept)))
        return ends[0], ends[1]
    return float(low), float(high)


def dicom_grayscale(dataset, stored: np.ndarray) -> np.ndarray:
    """Stored pixel values -> what a viewer shows, as uint8: modality LUT, then the first VOI LUT or window
    (pydicom's, whose output spans the modality range of BitsStored), or else the range of the bits the picture
    uses (:func:`bits_used`), onto 0-255; MONOCHROME1 inverted."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    values = apply_modality_lut(stored, dataset)
    if dataset.get("VOILUTSequence"):
        low, high = 0.0, float(2 ** dataset.VOILUTSequence[0].LUTDescriptor[2] - 1)
        values = apply_voi_lut(values, dataset, prefer_lut=True)
    elif "WindowCenter" in dataset and "WindowWidth" in dataset:
        low, high = _modality_range(dataset)
        values = apply_voi_lut(values, dataset, prefer_lut=False)
    else:
        low, high = _modality_range(dataset, bits_used(dataset, stored))
    if high <= low:
        raise RadiographError(f"DICOM pixel value range [{low}, {high}] is empty")
    grey = np.clip(np.rint((np.asarray(values, dtype=np.float64) - low) * (255 / (high - low))), 0, 255)
    grey = grey.astype(np.uint8)
    return 255 - grey if str(dataset.PhotometricInterpretation).strip() == "MONOCHROME1" else grey


def flatness(grey: np.ndarray) -> str | None:
    """Why an 8-bit picture is too flat to be a radiograph (fewer than :data:`FLAT_LEVELS` grey levels in all, or
    its middle 98% of pixels within fewer), or None."""
    counts = np.bincount(grey.ravel(), minlength=256)
    levels = int(np.count_nonzero(counts))
    share = np.cumsum(counts) / grey.size
    spread = int(np.searchsorted(share, 0.99) - np.searchsorted(share, 0.01)) + 1
    if levels >= FLAT_LEVELS and spread >= FLAT_LEVELS:
        return None
    return (
        f"nearly flat as a viewer would show it ({levels} grey levels, the middle 98% of pixels within {spread}; "
        f"fewer than {FLAT_LEVELS}: its window or bit depth does not fit the picture)"
    )
