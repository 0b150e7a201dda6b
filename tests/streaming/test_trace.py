"""One connected trace per object across the agents, and no PHI in spans, metric labels or logs."""
from __future__ import annotations

import json
import subprocess
import uuid
from collections import defaultdict
from pathlib import Path

from pixelguard.core.keys import Derivations
from pixelguard.keyservice.local import LocalKeyService
from streams.objectstore import FileObjectStore
from streams.status import job_status
from streams.submit import submit
from streams.topics import ensure_topics

from .harness import PIXELGUARD, make_corpus, stream_env, wait_for_job, worker


def _hex(value: str | None) -> str | None:
    return value[2:] if value and value.startswith("0x") else value


def test_one_connected_trace_per_object_without_phi(kafka, span_memory, tmp_path: Path) -> None:
    prefix = f"trace-{uuid.uuid4().hex[:8]}"
    corpus = make_corpus(tmp_path / "in", dicoms=4, compressed=1, images=1, niftis=1, bad=2)
    store, key_file = tmp_path / "store", tmp_path / "keys" / "key.json"
    keys = LocalKeyService.open(key_file)
    telemetry_file = tmp_path / "telemetry.jsonl"
    env = stream_env(tmp_path, prefix, PIXELGUARD_TELEMETRY_FILE=str(telemetry_file),
                     OTEL_METRIC_EXPORT_INTERVAL="1000")
    ensure_topics(kafka.bootstrap, prefix, 2)
    w = worker(tmp_path, "t1", kafka.bootstrap, store, key_file, env)
    w.env["PIXELGUARD_PARTITIONS"] = "2"
    try:
        w.start()
        span_memory.clear()
        result = submit([str(corpus.root)], bootstrap=kafka.bootstrap, prefix=prefix, store=FileObjectStore(store),
                        derive=Derivations(keys.hmac), profile="basic", job_id="job-trace")
        for _ in wait_for_job(kafka.bootstrap, prefix, "job-trace", corpus.total, 600, [w]):
            pass
    finally:
        w.stop()  # SIGTERM: the worker flushes its exporters on the way out

    spans = [{"trace": _hex(s.context.trace_id and f"0x{s.context.trace_id:032x}"),
              "id": f"{s.context.span_id:016x}", "parent": f"{s.parent.span_id:016x}" if s.parent else None,
              "name": s.name, "attributes": dict(s.attributes or {})} for s in span_memory.get_finished_spans()]
    lines = [json.loads(line) for line in telemetry_file.read_text().splitlines() if line.strip()]
    for line in lines:
        if "span" in line:
            s = line["span"]
            spans.append({"trace": _hex(s["context"]["trace_id"]), "id": _hex(s["context"]["span_id"]),
                          "parent": _hex(s.get("parent_id")), "name": s["name"], "attributes": s["attributes"]})
    by_trace: dict[str, list[dict]] = defaultdict(list)
    for s in spans:
        by_trace[s["trace"]].append(s)
    for input_id in result.input_ids:
        trace_id = result.trace_ids[input_id]
        trace = by_trace[trace_id]
        ids = {s["id"] for s in trace}
        roots = [s for s in trace if s["parent"] is None]
        assert len(roots) == 1 and roots[0]["name"].startswith("send "), [s["name"] for s in trace]
        assert all(s["parent"] in ids for s in trace if s["parent"] is not None), "a span points outside its trace"
        agents = {s["attributes"].get("pixelguard.agent") for s in trace} - {None}
        inputs = {s["attributes"].get("pixelguard.input.id") for s in trace} - {None}
        assert inputs == {input_id}, "a trace mixes objects"
        assert "route" in agents and len(agents) >= (3 if "parse" in agents and "scrub" in agents else 2), agents
    good_traces = [result.trace_ids[i] for i in result.input_ids]
    assert (
        sum(1 for t in good_traces if len({s["attributes"].get("pixelguard.agent") for s in by_trace[t]} - {None}) >= 4)
        >= corpus.good
    )

    # `pixelguard trace OUTPUT_ID` prints the trace id an SRE searches for.
    from streams.reader import scan
    from streams.topics import topic_name

    final = next(r for r in scan(kafka.bootstrap, [topic_name("clean", prefix), topic_name("review", prefix)]))
    out = subprocess.run([PIXELGUARD, "trace", final.event.output_id, "--id-only", "--bootstrap", kafka.bootstrap,
                          "--prefix", prefix], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == result.trace_ids[final.event.input_id]

    attributes = json.dumps([s["attributes"] for s in spans])
    metric_text = json.dumps([line["metrics"] for line in lines if "metrics" in line])
    assert "pixelguard.objects" in metric_text and "pixelguard.stage.duration" in metric_text
    logs = w.log.read_text(errors="replace")
    assert not corpus.leaks("\n".join((attributes, metric_text, logs)))
    st = job_status(kafka.bootstrap, prefix, "job-trace")
    assert st.in_flight == 0 and sum(st.counts.values()) == corpus.total
