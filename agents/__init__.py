"""The streaming runner: Faust agents for parse, scrub and redact (thin shells over ``stages.py``), the
transactional route hop (``route.py``), worker health (``liveness.py``), and ``wiring.py``, which builds a
worker's adapters from ``pixelguard.settings``. ``pixelguard worker`` starts it through ``app.run_worker``."""
