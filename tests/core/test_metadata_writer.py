"""The header-only writer copies unchanged elements as bytes; its output must equal pydicom's writer's."""
from __future__ import annotations

from pathlib import Path

from pixelguard.core.headeronly import deidentify_header, write_spliced
from pixelguard.core.parse import parse
from pixelguard.core.record import StageError
from pixelguard.core.redact import write_dicom
from pixelguard.core.scrub import scrub

from .test_metadata_leak import FILES


def test_spliced_output_equals_pydicom_output_over_the_corpus(basic, derive) -> None:
    compared = 0
    for path in FILES:
        data = path.read_bytes()
        try:
            first = scrub(parse("in-w", data, derive), basic, derive)
            second = scrub(parse("in-w", data, derive), basic, derive)
        except StageError:
            continue
        if first.format.value != "dicom":
            continue
        ours, theirs = write_spliced(first.header), write_dicom(second.header)
        assert ours[:128] == b"\x00" * 128, path.name  # the preamble is never copied
        assert ours[128:] == theirs[128:], path.name
        compared += 1
    assert compared > 160  # the dicomdir tests' CT headers without pixels are refused at parse


def test_deidentify_header_never_decodes_pixels(basic, derive, monkeypatch) -> None:
    from pydicom.data import get_testdata_file
    from pydicom.dataset import Dataset

    def refuse(*args, **kwargs):  # pragma: no cover - called only on a regression
        raise AssertionError("pixel data was decoded")

    monkeypatch.setattr(Dataset, "pixel_array", property(refuse))
    data = Path(get_testdata_file("JPEG2000.dcm")).read_bytes()
    record = deidentify_header("in-h", data, basic, derive)
    import io

    import pydicom

    original, out = pydicom.dcmread(io.BytesIO(data)), pydicom.dcmread(io.BytesIO(record.output_bytes))
    assert out.PixelData == original.PixelData
    assert out.SOPInstanceUID == record.output_id != original.SOPInstanceUID
