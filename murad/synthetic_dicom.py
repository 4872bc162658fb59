"""Grayscale pictures written as DICOM files, in the encodings hospitals store radiographs in, for testing and
measuring ``murad predict`` on DICOM input without patient data.

Each encoding stores the same 8-bit picture so that a viewer (and :func:`murad.radiographs.read_radiograph`) shows it
unchanged, except ``jpeg_baseline``, which is lossy:

- ``uncompressed_8bit``: MONOCHROME2, 8 bits stored, explicit VR little endian;
- ``monochrome1_12bit``: MONOCHROME1 (0 is white), 12 bits stored in 16, the picture inverted over 4095;
- ``rescaled_16bit_window``: 16 bits stored, rescale slope 0.5 and intercept -100, and a window that maps the
  rescaled values back onto 0-255;
- ``rle``: RLE lossless (pydicom's encoder);
- ``jpeg2000``: JPEG 2000 lossless of the 12-bit values (pylibjpeg-openjpeg's encoder);
- ``jpeg_baseline``: a JPEG (quality 95, Pillow) encapsulated as JPEG baseline (8-bit).

:func:`multi_frame` and :func:`colour` write what murad refuses.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

ENCODINGS = (
    "uncompressed_8bit",
    "monochrome1_12bit",
    "rescaled_16bit_window",
    "rle",
    "jpeg2000",
    "jpeg_baseline",
)
LOSSY = frozenset({"jpeg_baseline"})


def _dataset(stored: np.ndarray, bits_stored: int, photometric: str = "MONOCHROME2", samples: int = 1):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID = meta.MediaStorageSOPClassUID
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.Modality = "CR"
    dataset.Rows, dataset.Columns = stored.shape[-2:] if samples == 1 else stored.shape[:2]
    dataset.SamplesPerPixel = samples
    if samples > 1:
        dataset.PlanarConfiguration = 0
    dataset.PhotometricInterpretation = photometric
    dataset.BitsAllocated = 8 if bits_stored <= 8 else 16
    dataset.BitsStored = bits_stored
    dataset.HighBit = bits_stored - 1
    dataset.PixelRepresentation = 0
    dataset.PixelData = np.ascontiguousarray(stored).tobytes()
    return dataset


def _twelve_bit(grey: np.ndarray) -> np.ndarray:
    return np.rint(grey.astype(np.float64) * 4095 / 255).astype(np.uint16)


def encoded(grey: np.ndarray, encoding: str, body_part: str | None = None):
    """The 8-bit picture ``grey`` (H, W) as a pydicom dataset in ``encoding`` (one of :data:`ENCODINGS`)."""
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEG2000Lossless, JPEGBaseline8Bit, RLELossless

    grey = np.asarray(grey, dtype=np.uint8)
    if encoding in ("uncompressed_8bit", "rle"):
        dataset = _dataset(grey, 8)
        if encoding == "rle":
            dataset.compress(RLELossless)
    elif encoding == "monochrome1_12bit":
        dataset = _dataset(_twelve_bit(255 - grey), 12, "MONOCHROME1")
    elif encoding == "rescaled_16bit_window":
        # stored s = 200 g + 1000; rescaled x = 0.5 s - 100 = 100 g + 400; the linear window (DICOM PS3.3 C.11.2.1.2)
        # with width 25501 and centre 13150.5 maps x = 400 onto 0 and x = 25900 onto 255
        dataset = _dataset(grey.astype(np.uint16) * 200 + 1000, 16)
        dataset.RescaleSlope, dataset.RescaleIntercept = 0.5, -100
        dataset.WindowCenter, dataset.WindowWidth = 13150.5, 25501
    elif encoding == "jpeg2000":
        dataset = _dataset(_twelve_bit(grey), 12)
        dataset.compress(JPEG2000Lossless)
    elif encoding == "jpeg_baseline":
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(grey).save(buffer, format="JPEG", quality=95)
        dataset = _dataset(grey, 8)
        dataset.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
        dataset.PixelData = encapsulate([buffer.getvalue()])
        dataset["PixelData"].VR = "OB"
    else:
        raise ValueError(f"unknown DICOM encoding {encoding!r}; one of {', '.join(ENCODINGS)}")
    if body_part:
        dataset.BodyPartExamined = body_part.upper()
    return dataset


def write_dicom(grey: np.ndarray, path: str | Path, encoding: str, body_part: str | None = None) -> None:
    encoded(grey, encoding, body_part).save_as(path, enforce_file_format=True)


def multi_frame(grey: np.ndarray, path: str | Path, frames: int = 3) -> None:
    """``frames`` copies of ``grey`` as one multi-frame 8-bit file."""
    dataset = _dataset(np.stack([np.asarray(grey, dtype=np.uint8)] * frames), 8)
    dataset.NumberOfFrames = frames
    dataset.save_as(path, enforce_file_format=True)


def colour(grey: np.ndarray, path: str | Path) -> None:
    """``grey`` as an RGB file."""
    rgb = np.repeat(np.asarray(grey, dtype=np.uint8)[..., None], 3, axis=2)
    _dataset(rgb, 8, "RGB", samples=3).save_as(path, enforce_file_format=True)


def detector_image(values: np.ndarray, window: tuple[float, float], identity: str, body_part: str | None = None):
    """12-bit detector values (H, W; 0 = no signal) as another site's PACS stores a radiograph: MONOCHROME1 (the
    values inverted over 4095, so bone is low), 12 bits stored in 16, Modality DX, with the window (centre, width)
    of the stored values a viewer should show; its UIDs derived from ``identity``, so the same image gives the same
    file."""
    from pydicom.uid import generate_uid

    stored = 4095 - np.clip(np.asarray(values), 0, 4095).astype(np.uint16)
    dataset = _dataset(stored, 12, "MONOCHROME1")
    uid = generate_uid(entropy_srcs=[identity])
    dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID = uid
    dataset.Modality = "DX"
    dataset.WindowCenter, dataset.WindowWidth = float(window[0]), float(window[1])
    if body_part:
        dataset.BodyPartExamined = body_part.upper()
    return dataset
