"""A feed's bucket for the S3 tests: good objects with fake PHI, and every kind of bad one, under a prefix.

Keys are named the way a careless feed names them, after the patient, so a test can check that no key ever
reaches an event, a log line or a reason.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from pixelguard.samples import text_dicom, text_png
from tests.streaming.harness import Corpus, patient

MIB = 1 << 20
OVERSIZE_LIMIT = 2 * MIB  # submit's max_object_bytes in these tests: the oversized object is over it


@dataclass
class Feed:
    corpus: Corpus
    keys: list[str] = field(default_factory=list)
    bad_keys: dict[str, str] = field(default_factory=dict)  # key -> which kind of bad

    @property
    def total(self) -> int:
        return len(self.keys)


def bad_objects() -> dict[str, bytes]:
    good = text_dicom(patient(900))
    png = text_png(patient(901), size=(64, 48))
    corrupt = bytearray(good)
    corrupt[132:400] = os.urandom(268)  # the DICM magic kept, the data set after it garbled
    return {
        "corrupt": bytes(corrupt),
        "truncated": good[:1500],
        "wrong-format": b"%PDF-1.4 not an image, whatever the name says\n" * 20,
        "empty": b"",
        "cut-png": png[:70],
        "oversized": os.urandom(OVERSIZE_LIMIT + MIB),
    }


def fill(s3, bucket: str, prefix: str, dicoms: int = 3, pngs: int = 1, bad: bool = True) -> Feed:
    """Put the feed's objects under ``s3://bucket/prefix``; ``s3`` is a boto3 client."""
    from pathlib import Path

    feed = Feed(Corpus(Path("/nonexistent")))
    for i in range(dicoms + pngs):
        p = patient(600 + i)
        feed.corpus.patients.append(p)
        if i < dicoms:
            key, data = f"{prefix}{p.name}_{p.patient_id}.dcm", text_dicom(p)
        else:
            key, data = f"{prefix}{p.name}_{p.birth_date}.png", text_png(p, size=(320, 240), seed=i)
        s3.put_object(Bucket=bucket, Key=key, Body=data)
        feed.keys.append(key)
        feed.corpus.good += 1
    if bad:
        feed.corpus.patients += [patient(900), patient(901)]
        for kind, data in bad_objects().items():
            key = f"{prefix}bad/{kind}_{patient(900).patient_id}.dcm"
            s3.put_object(Bucket=bucket, Key=key, Body=data)
            feed.keys.append(key)
            feed.bad_keys[key] = kind
            feed.corpus.bad += 1
    return feed
