"""Submitting objects: copy each into the object store under its opaque id, publish one ingest event each.

Inputs are files, folders and ``s3://bucket/prefix`` (every object under it; ``streams/sources.py``). The
feed's path or key never leaves this process: the store name is ``ingest/<job>/<input_id>`` (input_id is an
HMAC of the path or ``s3://`` URI), and the event carries only that URI. Inputs that cannot be read become
ingest events with an error (so they are accounted for in ``errors``), as in the embedded runner; an
oversized one is refused from its size (stat, or the S3 listing) before it is read.
"""
from __future__ import annotations

import functools
import os
import uuid
from dataclasses import dataclass, field

from confluent_kafka import Producer
from opentelemetry.trace import SpanKind

from pixelguard.core.keys import Derivations
from pixelguard.core.parse import MAX_OBJECT_BYTES
from pixelguard.core.record import StageError
from pixelguard.telemetry.tracing import (
    child_span,
    event_attributes,
    inject,
    kafka_headers,
    messaging_attributes,
    set_attributes,
)

from .dicomweb import DicomWebNotFound, DicomWebRefused, ObjectTooLarge
from .events import ObjectEvent, now_iso
from .objectstore import ObjectNotFound, ObjectStore, StorageUnavailable, StoreOptions
from .sources import Source, sources
from .topics import topic_name


@dataclass
class SubmitResult:
    job_id: str
    submitted: int = 0
    flagged: int = 0  # published with an error found at submit (unreadable, loops, ...)
    failed: int = 0  # not acknowledged by Kafka: NOT submitted; resubmit them
    input_ids: list[str] = field(default_factory=list)
    trace_ids: dict[str, str] = field(default_factory=dict)


def routing_key(data: bytes, derive: Derivations) -> str:
    """The same key the parse stage derives: remapped StudyInstanceUID for DICOM, keyed content id otherwise."""
    from pixelguard.formats import detect, handler

    try:
        fmt = detect(data)
    except StageError:
        return derive.content_id(data)  # parse reports it
    return handler(fmt).submit_key(data, derive)


REFUSED = "invalid-event"


def checked(event: ObjectEvent) -> ObjectEvent:
    """The event to publish: ``event`` if it meets its schema, else an error event for the same input.

    The submit boundary, per input (the run's fields were checked before the first): what submit derived for
    one input must not put an off-contract event on ingest, where every worker would refuse it; the error
    event takes the input to ``errors`` with the reason (which names fields, never values), so the job still
    accounts for it. The error event keeps only fields that passed the run's check, so it meets the schema.
    """
    problem = event.violation()
    if problem is None:
        return event
    refused = ObjectEvent(job_id=event.job_id, input_id=event.input_id, profile=event.profile,
                          submitted_at=event.submitted_at, stage="ingest", status="error", error_code=REFUSED,
                          reason=f"{REFUSED}: {problem}", key=event.input_id, trace=event.trace)
    return refused


def _record_ack(acked: dict[str, bool], input_id: str, err: object, _msg: object) -> None:
    acked[input_id] = err is None


def idempotent_producer(bootstrap: str) -> Producer:
    return Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                     "linger.ms": 5})  # no lz4: aiokafka (Faust) cannot read it without extras


def _read(item: Source, limit: int) -> tuple[bytes | None, tuple[str, str] | None]:
    """The input's bytes, or the (code, reason) it is published with instead; sizes are checked first."""
    try:
        if item.fetch is not None:  # remote and streamed: the limit is kept while reading
            return item.fetch(limit), None
        size = item.size if item.size is not None else os.stat(item.name).st_size
        if size > limit:
            return None, ("oversized", f"object is {size} bytes; the limit is {limit}")
        return item.read(), None
    except ObjectTooLarge as exc:
        return None, ("oversized", str(exc))
    except PermissionError:
        return None, ("unreadable", "permission denied")
    except DicomWebNotFound as exc:  # gone from the PACS after it was listed; our message, no UID
        return None, ("not-found", str(exc))
    except DicomWebRefused as exc:
        return None, ("unreadable", str(exc))
    except ObjectNotFound:
        return None, ("not-found", "the object was removed from its bucket after it was listed")
    except StorageUnavailable as exc:  # our own message: it names the operation and what to do, no key
        return None, ("unreadable", str(exc))
    except OSError as exc:
        return None, ("unreadable", f"read failed ({exc.__class__.__name__})")


def submit(paths: list[str], *, bootstrap: str, prefix: str, store: ObjectStore, derive: Derivations,
           profile: str, job_id: str | None = None, options: dict[str, str] | None = None,
           output_format: str = "original", timeout_s: float = 60.0, store_options: StoreOptions | None = None,
           max_object_bytes: int = MAX_OBJECT_BYTES) -> SubmitResult:
    result = SubmitResult(job_id or "job-" + uuid.uuid4().hex[:12])
    # The run's own fields, checked once: a job id, profile or option off the contract would spoil every
    # event, so nothing is published and the caller is told which field to fix.
    run_problem = ObjectEvent(job_id=result.job_id, input_id="run", profile=profile, submitted_at=now_iso(),
                              stage="ingest", options=dict(options or {}), output_format=output_format).violation()
    if run_problem is not None:
        raise ValueError(f"submit: nothing was published: {run_problem}")
    topic = topic_name("ingest", prefix)
    producer = idempotent_producer(bootstrap)
    acked: dict[str, bool] = {}

    for item in sources(paths, store_options):  # an s3:// prefix that cannot be listed stops here: none sent
        input_id = derive.input_id(item.name)
        event = ObjectEvent(job_id=result.job_id, input_id=input_id, profile=profile, submitted_at=now_iso(),
                            stage="ingest", options=dict(options or {}), output_format=output_format)
        # The object's root span; its stage is "submit" (``telemetry/stage_costs.py``, ``pixelguard trace``).
        with child_span(f"send {topic}", kind=SpanKind.PRODUCER,
                        attrs={**messaging_attributes("send", topic), "pixelguard.agent": "submit"}) as span:
            problem = item.problem
            if problem is None:
                data, problem = _read(item, max_object_bytes)
                if data is not None:
                    try:
                        uri = store.put(f"ingest/{result.job_id}/{input_id}", data)
                        event = event.next("ingest", source_uri=uri, object_uri=uri, key=routing_key(data, derive))
                    except StorageUnavailable as exc:  # accounted for in errors, with what to do; not lost
                        problem = ("storage-unavailable", f"{exc}; fix the store, then resubmit this input")
                    except OSError as exc:
                        problem = ("storage-unavailable", f"storing the input failed ({exc.__class__.__name__})")
                    finally:
                        del data
            if problem is not None:
                event = event.next("ingest", status="error", error_code=problem[0],
                                   reason=f"{problem[0]}: {problem[1]}", key=input_id)
                result.flagged += 1
            carrier = inject()
            event = checked(event.next("ingest", trace=carrier))
            if event.error_code == REFUSED and problem is None:
                result.flagged += 1
            set_attributes(span, event_attributes(event))
            result.trace_ids[input_id] = span.get_span_context().trace_id.to_bytes(16, "big").hex()
        while True:
            try:
                producer.produce(topic, key=event.key.encode(), value=event.to_bytes(),
                                 headers=kafka_headers(carrier),
                                 on_delivery=functools.partial(_record_ack, acked, input_id))
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
        result.input_ids.append(input_id)
    producer.flush(timeout_s)
    result.submitted = sum(1 for i in result.input_ids if acked.get(i))
    result.failed = len(result.input_ids) - result.submitted
    return result
