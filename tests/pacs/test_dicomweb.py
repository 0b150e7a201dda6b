"""The DICOMweb adapter and the Orthanc service, on real Orthanc servers: what the source and sink rely on."""
from __future__ import annotations

import pytest

from pixelguard.samples import FakePatient
from pixelguard.services.base import ServiceError
from pixelguard.services.orthanc import OrthancService
from streams import dicomweb
from tests.pacs.studies import make_study, pacs, upload

PATIENT = FakePatient("MARLOWE^PHILIPPA", "MRN4410022", "19610314")


def test_two_servers_keep_their_own_data_and_survive_a_restart(orthanc_factory) -> None:
    source, research = orthanc_factory(), orthanc_factory()
    study = make_study(PATIENT, [2, 1])
    upload(source, study)
    assert len(pacs(source).search("instances")) == 3 and pacs(research).search("instances") == []
    source.stop()
    with pytest.raises(dicomweb.DicomWebUnavailable, match="could not be reached"):
        pacs(source).search("studies")
    source.start()  # the old pid is gone (stop waits for it): the index is free again
    assert len(pacs(source).search("instances")) == 3


def test_a_second_server_on_the_same_state_is_refused(orthanc_factory) -> None:
    first = orthanc_factory()
    twin = OrthancService(first.state_dir, port=first.port, label=first.label)
    with pytest.raises(ServiceError, match="already running"):
        twin.start()


def test_wado_rs_returns_the_bytes_the_pacs_holds(orthanc_factory) -> None:
    source = orthanc_factory()
    study = make_study(PATIENT, [3, 2])
    upload(source, study)
    ref = dicomweb.parse(f"dicomweb://127.0.0.1:{source.port}/dicom-web/studies/{study.uid}")
    found = pacs(source).instances(ref)
    assert {r.instance for r in found} == set(study.files)
    for item in found:
        assert pacs(source).retrieve(item, 1 << 20) == study.files[item.instance]
    one_series = next(iter(study.series))
    assert len(pacs(source).instances(dicomweb.parse(f"{ref.uri()}/series/{one_series}"))) == 3
    with pytest.raises(dicomweb.ObjectTooLarge):
        pacs(source).retrieve(found[0], 1000)


def test_storing_the_same_instance_again_keeps_one(orthanc_factory) -> None:
    research = orthanc_factory()
    data = next(iter(make_study(PATIENT, [1]).files.values()))
    client = pacs(research)
    first, again = client.store(data), client.store(data)
    assert first == again
    assert len(client.search("instances")) == 1


@pytest.mark.parametrize("kind, data", [("truncated", 1500), ("empty", 0), ("not-dicom", -1)])
def test_a_pacs_refusing_an_instance_is_a_clear_error(orthanc_factory, kind: str, data: int) -> None:
    research = orthanc_factory()
    good = next(iter(make_study(PATIENT, [1]).files.values()))
    body = b"%PDF-1.4\n" * 50 if data < 0 else good[:data]
    with pytest.raises(dicomweb.StoreRefused, match="refused the instance"):
        pacs(research).store(body)
    assert pacs(research).search("instances") == []


def test_missing_study_and_instance_say_so(orthanc_factory) -> None:
    source = orthanc_factory()
    root = f"dicomweb://127.0.0.1:{source.port}/dicom-web"
    with pytest.raises(dicomweb.DicomWebNotFound) as missing:
        pacs(source).instances(dicomweb.parse(f"{root}/studies/1.2.826.0.1.999"))
    with pytest.raises(dicomweb.DicomWebNotFound, match="404") as gone:
        pacs(source).retrieve(dicomweb.parse(f"{root}/studies/1.2.826.0.1.999/series/1.2/instances/1.3"), 100)
    assert "1.2.826.0.1.999" not in str(missing.value) + str(gone.value)


@pytest.mark.parametrize("url, says", [
    ("dicomweb:///dicom-web/studies/1.2.3", "no host"),
    ("dicomweb://127.0.0.1:port/dicom-web/studies/1.2.3", "port is not a number"),
    ("dicomweb://127.0.0.1:8042/dicom-web/studies/MRN4410022", "not a DICOM UID"),
    ("dicomweb://127.0.0.1:8042/dicom-web/studies/1.2.3/instances/1.2.4", "ends in /studies/UID"),
    ("dicomweb://127.0.0.1:8042/dicom-web/studies/1.2.3?PatientID=MRN4410022", "takes no"),
    ("dicomweb://127.0.0.1:8042/dicom-web", "names no study"),
])
def test_malformed_urls_are_refused_without_quoting_them(url: str, says: str) -> None:
    with pytest.raises(dicomweb.DicomWebError, match=says) as refused:
        dicomweb.parse(url)
    assert "MRN4410022" not in str(refused.value) and "1.2.3" not in str(refused.value)


def test_a_url_names_a_study_series_or_instance() -> None:
    ref = dicomweb.parse("dicomweb://pacs.example:8042/dicom-web/studies/1.2.3/series/1.2.4/instances/1.2.5")
    assert (ref.server.host, ref.server.port, ref.server.root) == ("pacs.example", 8042, "/dicom-web")
    assert (ref.study, ref.series, ref.instance) == ("1.2.3", "1.2.4", "1.2.5")
    assert ref.uri() == "dicomweb://pacs.example:8042/dicom-web/studies/1.2.3/series/1.2.4/instances/1.2.5"


def test_multipart_bodies_split_into_their_parts() -> None:
    body = b"--b1\r\nContent-Type: application/dicom\r\n\r\nONE\r\n--b1\r\nContent-Type: x\r\n\r\nTWO\r\n--b1--\r\n"
    assert list(dicomweb.split_multipart(body, b"b1")) == [b"ONE", b"TWO"]
