# Session-scoped real servers (Apache Kafka KRaft, OpenBao, Triton), each started once on free loopback
# ports and stopped by pid at the end of the session.
pytest_plugins = ["tests.fixtures.kafka", "tests.fixtures.openbao", "tests.fixtures.triton"]
