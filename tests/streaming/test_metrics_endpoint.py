"""A real worker's /metrics, scraped over HTTP and by a real Prometheus, after a small job on the real broker.

One worker (with Triton, so the Triton histogram fills) decides a small corpus: fake patients with burned-in
text, bad inputs, and one object whose leak only the PHI sweep catches. The scrape must count what the final
topics hold, show lag while the job runs and none after, and carry no PHI. Grafana's dashboard is checked
against the same scrape: every metric its expressions name must be one the worker exposes.
"""
from __future__ import annotations

import contextlib
import json
import re
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pixelguard.core.keys import Derivations
from pixelguard.keyservice.local import LocalKeyService
from pixelguard.samples import FakePatient
from pixelguard.services.base import free_port, wait_until
from pixelguard.services.prometheus import PrometheusService
from streams.objectstore import FileObjectStore
from streams.reader import scan
from streams.submit import submit
from streams.topics import FINAL_TOPICS, ensure_topics, topic_name
from tests.test_sweep_runners import _leaky

from .harness import Corpus, make_corpus, stream_env, wait_for_job, worker

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy" / "grafana" / "pixelguard.json"
DECISION_OF_TOPIC = {"clean": "clean", "review": "review", "errors": "error"}
STAGES = {"parse", "scrub", "redact", "route"}


def scrape(port: int) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        return resp.read().decode()


def samples(text: str, name: str, **labels: str) -> list[float]:
    return [s.value for family in text_string_to_metric_families(text) for s in family.samples
            if s.name == name and labels.items() <= s.labels.items()]


@dataclass
class Run:
    text: str  # the last scrape, after the job
    corpus: Corpus
    finals: Counter[str]  # decision -> objects on the final topics
    lag_seen: float  # the most lag one scrape showed while the job ran
    prometheus: PrometheusService


@pytest.fixture(scope="module")
def run(kafka, triton, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("metrics")
    prefix = f"metrics-{uuid.uuid4().hex[:8]}"
    corpus = make_corpus(tmp / "in", dicoms=4, compressed=1, images=1, niftis=1, bad=3)
    (corpus.root / "leaky.dcm").write_bytes(_leaky())  # a leak only the sweep catches: a sweep hit, a review
    corpus.good += 1
    corpus.patients.append(FakePatient())
    store, key_file = tmp / "store", tmp / "keys" / "key.json"
    keys = LocalKeyService.open(key_file)
    port = free_port()
    env = stream_env(tmp, prefix, PIXELGUARD_PARTITIONS="2", PIXELGUARD_CROSSWALK="none",
                     PIXELGUARD_LIVENESS_INTERVAL_S="0.5", PIXELGUARD_METRICS_PORT=str(port))
    ensure_topics(kafka.bootstrap, prefix, 2)
    # Submitted before the worker starts: the backlog is there to be seen as lag.
    result = submit([str(corpus.root)], bootstrap=kafka.bootstrap, prefix=prefix, store=FileObjectStore(store),
                    derive=Derivations(keys.hmac), profile="basic", job_id="job-metrics")
    assert result.submitted == corpus.total and result.failed == 0
    w = worker(tmp, "m1", kafka.bootstrap, store, key_file, env, triton.grpc_url)
    prometheus = PrometheusService(state_dir=tmp / "prometheus", targets=[f"127.0.0.1:{port}"], scrape_interval_s=1)
    with prometheus:
        w.start()
        try:
            lag_seen = 0.0
            for _status in wait_for_job(kafka.bootstrap, prefix, "job-metrics", corpus.total, 600, [w]):
                with contextlib.suppress(OSError):  # not serving yet: still starting
                    lag_seen = max(lag_seen, sum(samples(scrape(port), "pixelguard_consumer_lag")))
            # The route hop counts an object after its transaction commits, and the sampler measures lag
            # every 0.5 s: wait for both to catch up with what the final topics already hold.
            wait_until(lambda: sum(samples(scrape(port), "pixelguard_objects_total")) == corpus.total
                       and not any(samples(scrape(port), "pixelguard_consumer_lag")), 60, "metrics settled")
            text = scrape(port)
            prometheus.wait_for("sum(pixelguard_objects_total)",  # its own scrapes have caught up too
                                lambda r: bool(r) and float(r[0]["value"][1]) == corpus.total, 60)
            assert w.proc is not None and w.proc.poll() is None, w.log.read_text(errors="replace")[-3000:]
            finals = Counter(DECISION_OF_TOPIC[r.topic.rsplit(".", 1)[1]]
                             for r in scan(kafka.bootstrap, [topic_name(t, prefix) for t in FINAL_TOPICS]))
            print(f"\nmetrics: {corpus.total} objects -> {dict(finals)}; most lag in one scrape {lag_seen:.0f}")
            (tmp / "scrape.txt").write_text(text)  # kept for a failing assertion's reader
            yield Run(text, corpus, finals, lag_seen, prometheus)
        finally:
            w.stop()


def test_objects_by_final_state_match_the_final_topics(run: Run) -> None:
    by_decision = Counter[str]()
    for family in text_string_to_metric_families(run.text):
        for s in family.samples:
            if s.name == "pixelguard_objects_total":
                by_decision[s.labels["pixelguard_decision"]] += int(s.value)
                assert s.labels["pixelguard_profile"] == "basic"
    assert by_decision == run.finals and sum(by_decision.values()) == run.corpus.total
    assert by_decision["review"] >= 1 and by_decision["error"] >= 3  # the leaky object; the bad inputs
    assert samples(run.text, "pixelguard_review_rate") == [pytest.approx(by_decision["review"] / run.corpus.total)]
    assert sum(samples(run.text, "pixelguard_object_latency_seconds_count")) == run.corpus.total


def test_histograms_and_counters_have_observations(run: Run) -> None:
    for stage in ("parse", "scrub", "redact"):
        assert sum(samples(run.text, "pixelguard_stage_duration_seconds_count", pixelguard_stage=stage)) > 0, stage
    # parse counts under the format it found (the event it read did not know it yet)
    assert sum(samples(run.text, "pixelguard_stage_duration_seconds_count", pixelguard_stage="parse",
                       pixelguard_format="dicom")) > 0
    assert sum(samples(run.text, "pixelguard_triton_duration_seconds_count")) > 0
    models = {s.labels["pixelguard_model"] for f in text_string_to_metric_families(run.text) for s in f.samples
              if s.name == "pixelguard_triton_duration_seconds_count"}
    assert models and all(re.fullmatch(r"[a-z_]+", m) for m in models), models
    assert sum(samples(run.text, "pixelguard_sweep_hits_total", pixelguard_runner="streaming")) >= 1


def test_consumer_lag_per_group_and_partition(run: Run) -> None:
    assert run.lag_seen > 0, "the backlog submitted before the worker started never showed as lag"
    series = [s.labels for f in text_string_to_metric_families(run.text) for s in f.samples
              if s.name == "pixelguard_consumer_lag"]
    assert {labels["pixelguard_stage"] for labels in series} == STAGES
    assert {labels["messaging_destination_partition_id"] for labels in series} == {"0", "1"}
    groups = {labels["pixelguard_stage"]: labels["messaging_consumer_group_name"] for labels in series}
    assert groups["route"].endswith(".route") and groups["parse"].endswith("-agents")


def test_the_scrape_holds_no_phi(run: Run) -> None:
    assert not run.corpus.leaks(run.text)
    assert "Jane" not in run.text and "Doe" not in run.text
    for name in (p.name for p in run.corpus.root.iterdir()):
        assert name not in run.text
    assert "file:/" not in run.text and str(run.corpus.root.parent) not in run.text


def test_prometheus_scrapes_the_worker_and_answers_from_it(run: Run) -> None:
    answer = run.prometheus.wait_for(
        "sum by (pixelguard_decision) (pixelguard_objects_total)",
        lambda r: sum(float(x["value"][1]) for x in r) == run.corpus.total, 60)
    assert {x["metric"]["pixelguard_decision"]: int(float(x["value"][1])) for x in answer} == run.finals
    # The lag Prometheus recorded while the job ran, read back from its store.
    seen = run.prometheus.query("max_over_time(sum(pixelguard_consumer_lag)[10m:1s])")
    assert seen and float(seen[0]["value"][1]) > 0, seen


# PromQL words that are not metric names: functions are followed by "(", these are not (or not always).
_PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
                 "offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers that are not functions, keywords or labels."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # label values
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)  # label lists
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges and subqueries
    expr = re.sub(r"\$\{?\w+\}?", "", expr)  # Grafana variables
    return {word for word in re.findall(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", expr)
            if word.lower() not in _PROMQL_WORDS}


def dashboard_exprs() -> list[tuple[str, str]]:
    board = json.loads(DASHBOARD.read_text())
    return [(panel["title"], target["expr"]) for panel in board["panels"] for target in panel.get("targets", [])]


def test_every_dashboard_expression_reads_metrics_the_worker_exposes(run: Run) -> None:
    exposed = {s.name for f in text_string_to_metric_families(run.text) for s in f.samples}
    exprs = dashboard_exprs()
    assert len(exprs) >= 8
    for title, expr in exprs:
        names = metric_names(expr)
        assert names, f"{title}: no metric in {expr!r}"
        assert names <= exposed, f"{title}: {sorted(names - exposed)} not exposed by the worker"
        # And Prometheus itself accepts the expression and has data for it.
        result = run.prometheus.query(expr.replace("$__rate_interval", "5m").replace("$__range", "10m"))
        assert result, f"{title}: {expr!r} returned nothing"


def test_metric_names_of_a_promql_expression() -> None:
    expr = ('histogram_quantile(0.95, sum by (le, pixelguard_stage) '
            '(rate(pixelguard_stage_duration_seconds_bucket{pixelguard_stage=~"parse|scrub"}[$__rate_interval])))'
            ' / on (job) group_left sum(up)')
    assert metric_names(expr) == {"pixelguard_stage_duration_seconds_bucket", "up"}
