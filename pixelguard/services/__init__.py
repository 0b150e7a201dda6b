"""Real local servers (Apache Kafka, OpenBao, Triton) for tests and the demo.

Each backend is one module with one class deriving :class:`pixelguard.services.base.LocalService`.
Everything binds to 127.0.0.1 and is installed under the ignored cache folder (see :mod:`.paths`).
"""
