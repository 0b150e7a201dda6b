"""The header-only writer copies unchanged elements as bytes; its output must equal pydicom's writer's."""
from __future__ import annotations

from pathlib import Path

from pixelguard.core.parse import parse
from pixelguard.core.record import StageError
from pixelguard.core.redact import write_dicom
from pixelguard.core.scrub import scrub
from pixelguard.core.splice import write_spliced

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


def test_redaction_off_never_decodes_pixels_and_passes_them_on_byte_for_byte(basic, derive, monkeypatch) -> None:
    """`deid --redaction off`: the output's pixel data is the input's, and no frame is decoded to get there."""
    import io

    import pydicom
    import pydicom.pixels
    from pydicom.data import get_testdata_file
    from pydicom.dataset import Dataset

    from pixelguard.core.pipeline import RunOptions, process
    from pixelguard.core.record import Status
    from pixelguard.core.vocabulary import RedactionMode

    def refuse(*args, **kwargs):  # pragma: no cover - called only on a regression
        raise AssertionError("pixel data was decoded")

    monkeypatch.setattr(Dataset, "pixel_array", property(refuse))
    monkeypatch.setattr(pydicom.pixels, "iter_pixels", refuse)
    data = Path(get_testdata_file("JPEG2000.dcm")).read_bytes()
    outcome = process("in-h", data, basic, derive, None, RunOptions(redaction=RedactionMode.OFF))
    assert outcome.status is Status.REVIEW and "pixel redaction is off" in outcome.reason
    original, out = pydicom.dcmread(io.BytesIO(data)), pydicom.dcmread(io.BytesIO(outcome.output_bytes))
    assert out.PixelData == original.PixelData
    assert out.SOPInstanceUID == outcome.output_id != original.SOPInstanceUID
