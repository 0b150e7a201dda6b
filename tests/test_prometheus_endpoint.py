"""The /metrics endpoint serves the OTel instruments in Prometheus's text format, with codes for labels."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from pixelguard.services.base import free_port, wait_until

_SCRIPT = textwrap.dedent("""
    import sys, time
    from pixelguard.telemetry import metrics
    from pixelguard.telemetry.prometheus import expose
    expose("pixelguard-test", int(sys.argv[1]))
    metrics.watch_consumer_lag(lambda: [("pg-agents", "redact", 3, 7)])
    metrics.object_decided("clean", "dicom", "basic", 2.0)
    metrics.object_decided("review", "png", "/home/QUIXOTE^ZELDA/profile.yaml", 40.0)
    metrics.stage_duration("redact", 0.3, "dicom")
    metrics.triton_call("text_detector", 0.02)
    metrics.sweep_hit("input-value", "streaming")
    print("ready", flush=True)
    time.sleep(120)
""")


def _scrape(port: int) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        return resp.read().decode()


def test_metrics_endpoint_serves_every_instrument_by_code() -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", _SCRIPT, str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        wait_until(lambda: bool(_scrape(port)), 30, "/metrics", proc=proc)
        text = _scrape(port)
    finally:
        proc.kill()
        proc.wait(10)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}

    def value(name: str, **labels: str) -> float:
        return sum(v for (n, ls), v in samples.items() if n == name and labels.items() <= dict(ls).items())

    assert value("pixelguard_objects_total", pixelguard_decision="clean", pixelguard_profile="basic") == 1
    # A profile given as a path is not a code: it is counted, as "other", and never becomes a label.
    assert value("pixelguard_objects_total", pixelguard_decision="review", pixelguard_profile="other") == 1
    assert "QUIXOTE" not in text and "ZELDA" not in text and "profile.yaml" not in text
    assert value("pixelguard_review_rate") == 0.5
    assert value("pixelguard_consumer_lag", pixelguard_stage="redact", messaging_destination_partition_id="3",
                 messaging_consumer_group_name="pg-agents") == 7
    assert value("pixelguard_stage_duration_seconds_count", pixelguard_stage="redact") == 1
    assert value("pixelguard_triton_duration_seconds_count", pixelguard_model="text_detector") == 1
    assert value("pixelguard_sweep_hits_total", pixelguard_sweep_kind="input-value") == 1
    # Seconds buckets: a 2 s object and a 40 s one do not share a bucket (the SDK default's first is 0-5).
    assert value("pixelguard_object_latency_seconds_bucket", le="2.5") == 1
    assert value("pixelguard_object_latency_seconds_bucket", le="60.0") == 2
    assert value("process_cpu_seconds_total") > 0  # prometheus_client's own collectors come along
