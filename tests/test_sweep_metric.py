"""The sweep's hit counter: labelled by kind and runner, never by a value."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

_SCRIPT = textwrap.dedent("""
    import json
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    from pixelguard.telemetry.metrics import sweep_hit
    sweep_hit("input-value", "embedded")
    sweep_hit("input-value", "embedded")
    sweep_hit("email", "streaming")
    sweep_hit("DOE^JANE", "embedded")  # never a label: a value passed by mistake becomes "other"
    points = []
    for rm in reader.get_metrics_data().resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name == "pixelguard.sweep.hits":
                    points += [(dict(p.attributes), p.value) for p in m.data.data_points]
    print(json.dumps(sorted(points, key=lambda p: json.dumps(p[0], sort_keys=True))))
""")


def test_sweep_hits_are_counted_by_kind_and_runner() -> None:
    out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, check=True)
    points = json.loads(out.stdout)
    counts = {(a["pixelguard.sweep.kind"], a["pixelguard.runner"]): v for a, v in points}
    assert counts == {("input-value", "embedded"): 2, ("email", "streaming"): 1, ("other", "embedded"): 1}
    assert "DOE" not in out.stdout
