"""Demo and test inputs: pydicom's test files plus generated images with burned-in fake PHI.

Every generated object carries the same fake patient in its header *and* burned into its pixels, so a run
shows both scrubbing and redaction. ``python -m pixelguard.samples DIR`` writes them.
"""
from __future__ import annotations

import io
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont


@dataclass(frozen=True)
class FakePatient:
    name: str = "DOE^JANE"
    patient_id: str = "MRN0042424"
    birth_date: str = "19610203"

    def banner(self) -> str:
        return f"{self.name.replace('^', ' ')}  ID {self.patient_id}  DOB {self.birth_date}"


def pydicom_test_files() -> Path:
    from pydicom.data import get_testdata_file

    path = get_testdata_file("CT_small.dcm")
    assert isinstance(path, str), "pydicom's test files are not installed"
    return Path(path).parent


def burn_text(frame: np.ndarray, text: str, xy: tuple[int, int], size: int, value: int) -> np.ndarray:
    """Render text into a 2-D frame of any integer dtype at the given stored value."""
    mask = Image.new("L", (frame.shape[1], frame.shape[0]), 0)
    ImageDraw.Draw(mask).text(xy, text, fill=255, font=ImageFont.load_default(size=size))
    out = frame.copy()
    out[np.asarray(mask) > 127] = value
    return out


def text_png(patient: FakePatient, size: tuple[int, int] = (512, 384), seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    base = (rng.normal(60, 20, size[::-1]).clip(0, 255)).astype(np.uint8)
    img = burn_text(base, patient.banner(), (16, 12), 18, 250)
    buf = io.BytesIO()
    pil = Image.fromarray(img)
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", f"patient {patient.name} {patient.patient_id}")
    pil.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def text_jpeg(patient: FakePatient, size: tuple[int, int] = (640, 480), seed: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    base = (rng.normal(90, 25, size[::-1] + (3,)).clip(0, 255)).astype(np.uint8)
    for channel in range(3):
        base[..., channel] = burn_text(base[..., channel], patient.banner(), (20, size[1] - 40), 20, 255)
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x010E] = f"{patient.name} {patient.patient_id}"  # ImageDescription
    Image.fromarray(base).save(buf, format="JPEG", quality=92, exif=exif.tobytes())
    data = buf.getvalue()
    comment = f"patient {patient.name}".encode()
    com = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
    return data[:2] + com + data[2:]


def text_dicom(patient: FakePatient, transfer_syntax: str | None = None) -> bytes:
    """CT_small with the fake patient in its header and burned into its pixels (16-bit stored values)."""
    import pydicom
    from pydicom.uid import generate_uid

    ds = pydicom.dcmread(pydicom_test_files() / "CT_small.dcm")
    frame = ds.pixel_array
    ds.PixelData = burn_text(frame, patient.banner(), (2, 2), 9, int(frame.max())).tobytes()
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = patient.birth_date
    ds.BurnedInAnnotation = "YES"
    ds.SOPInstanceUID = generate_uid(entropy_srcs=[patient.patient_id, transfer_syntax or "native"])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if transfer_syntax:
        ds.compress(transfer_syntax, generate_instance_uid=False)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def text_nifti(patient: FakePatient) -> bytes:
    """nibabel's anatomical test volume with the fake patient in the free-text header fields."""
    import gzip

    import nibabel as nib

    image = nib.Nifti1Image.from_filename(Path(nib.__file__).parent / "tests" / "data" / "anatomical.nii")
    image.header["descrip"] = patient.banner().encode()[:79]
    image.header["aux_file"] = patient.patient_id.encode()
    return gzip.compress(image.to_bytes(), mtime=0)


def write_samples(out: Path, include_pydicom: bool = True) -> list[Path]:
    from pydicom.uid import JPEG2000Lossless, RLELossless

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    patients = [FakePatient(), FakePatient("ROE^RICHARD", "MRN7700123", "19480517")]
    for index, patient in enumerate(patients):
        items = {
            f"generated/{patient.name}_{index}.png": text_png(patient, seed=index),
            f"generated/{patient.name}_{index}.jpg": text_jpeg(patient, seed=index),
            f"generated/{patient.name}_{index}.dcm": text_dicom(patient),
            f"generated/{patient.name}_{index}_rle.dcm": text_dicom(patient, RLELossless),
            f"generated/{patient.name}_{index}_j2k.dcm": text_dicom(patient, JPEG2000Lossless),
            f"generated/{patient.name}_{index}.nii.gz": text_nifti(patient),
        }
        for name, data in items.items():
            path = out / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            written.append(path)
    if include_pydicom:
        target = out / "pydicom-test-files"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(pydicom_test_files(), target)
        written.extend(p for p in target.rglob("*") if p.is_file())
    return written


if __name__ == "__main__":
    paths = write_samples(Path(sys.argv[1] if len(sys.argv) > 1 else "samples"))
    print(f"wrote {len(paths)} sample files")
