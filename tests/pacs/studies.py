"""Studies for the PACS tests: several series of several instances, fake PHI in the header, and ways to spoil
an instance where the PACS keeps it (its storage file), as a failing disk or a bad import would."""
from __future__ import annotations

import io
import json
import os
import urllib.request
from dataclasses import dataclass, field

import pydicom
from pydicom.uid import generate_uid

from pixelguard.samples import FakePatient, pydicom_test_files
from pixelguard.services.orthanc import OrthancService
from streams import dicomweb


@dataclass
class Study:
    patient: FakePatient
    uid: str
    series: dict[str, list[str]] = field(default_factory=dict)  # series UID -> SOP instance UIDs
    files: dict[str, bytes] = field(default_factory=dict)  # SOP instance UID -> bytes

    @property
    def shape(self) -> list[int]:
        """Instances per series, sorted: what must survive de-identification."""
        return sorted(len(v) for v in self.series.values())

    @property
    def uids(self) -> set[str]:
        return {self.uid, *self.series, *self.files}


def make_study(patient: FakePatient, per_series: list[int]) -> Study:
    """A CT study: one series per entry of ``per_series``, that many instances each; fake PHI in the header."""
    base = pydicom.dcmread(pydicom_test_files() / "CT_small.dcm")
    study = Study(patient, generate_uid())
    for number, count in enumerate(per_series, start=1):
        series_uid = generate_uid()
        study.series[series_uid] = []
        for index in range(1, count + 1):
            ds = base.copy()
            ds.PatientName, ds.PatientID, ds.PatientBirthDate = patient.name, patient.patient_id, patient.birth_date
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study.uid, series_uid
            ds.SOPInstanceUID = generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.SeriesNumber, ds.InstanceNumber = number, index
            ds.StudyDescription = f"CT for {patient.name.replace('^', ' ')}"
            buf = io.BytesIO()
            ds.save_as(buf, enforce_file_format=True)
            study.series[series_uid].append(ds.SOPInstanceUID)
            study.files[ds.SOPInstanceUID] = buf.getvalue()
    return study


def pacs(service: OrthancService) -> dicomweb.HttpDicomWeb:
    return dicomweb.client(dicomweb.parse(f"dicomweb://127.0.0.1:{service.port}/dicom-web", need_study=False))


def upload(service: OrthancService, study: Study) -> None:
    client = pacs(service)
    for data in study.files.values():
        client.store(data)


def storage_file(service: OrthancService, sop_uid: str) -> str:
    """Where Orthanc keeps an instance's bytes (its attachment file, stored uncompressed)."""
    req = urllib.request.Request(f"{service.url}/tools/lookup", data=sop_uid.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        orthanc_id = next(x["ID"] for x in json.loads(resp.read()) if x["Type"] == "Instance")
    with urllib.request.urlopen(f"{service.url}/instances/{orthanc_id}/attachments/dicom/info", timeout=10) as resp:
        uuid = json.loads(resp.read())["Uuid"]
    return str(service.state_dir / "storage" / uuid[:2] / uuid[2:4] / uuid)


def spoil(service: OrthancService, sop_uid: str, kind: str, oversize: int) -> None:
    """Replace the stored bytes of one instance with a bad object of ``kind``."""
    path = storage_file(service, sop_uid)
    with open(path, "rb") as handle:
        good = handle.read()
    bad = {"corrupt": good[:132] + os.urandom(300) + good[432:], "truncated": good[:1500],
           "not-dicom": b"%PDF-1.4 not an image\n" * 40, "empty": b"", "oversized": good + os.urandom(oversize)}[kind]
    with open(path, "wb") as handle:
        handle.write(bad)
