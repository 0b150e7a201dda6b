"""The workers' two consumer groups, by name, and whether they have settled on a given number of members.

Every worker of a topic set joins two groups: the Faust agents' (``<prefix>-agents``: parse, scrub, redact)
and the transactional route hop's (``<prefix>.route``). Work spreads over N workers only once both groups
are Stable with N members that each hold partitions; before that, the first to join may take it all, and
Faust leaves events taken during its join rebalance unprocessed until a later one (tests and benches that
need N workers sharing the work wait for this state before they submit).
"""
from __future__ import annotations

from confluent_kafka import ConsumerGroupState, KafkaException
from confluent_kafka.admin import AdminClient


def agents_group(prefix: str) -> str:
    return f"{prefix}-agents"


def route_group(prefix: str) -> str:
    return f"{prefix}.route"


def worker_groups(prefix: str) -> list[str]:
    return [agents_group(prefix), route_group(prefix)]


def settled(admin: AdminClient, prefix: str, count: int, every_member_assigned: bool = True) -> bool:
    """Both groups are Stable with ``count`` members and, with ``every_member_assigned``, each member holding
    partitions. A group not created yet, or a broker that does not answer in time, reads as "not yet".

    Without ``every_member_assigned`` it only says that a join or leave is over: Faust's assignor keeps
    partitions where they were, so a fifth member joining four on 8 partitions gets none (seen:
    6/6/6/6/0 of the agents' 24) and the first form never turns true."""
    try:
        described = [f.result(timeout=15) for f in
                     admin.describe_consumer_groups(worker_groups(prefix), request_timeout=10).values()]
    except (KafkaException, TimeoutError):
        return False
    return all(g.state == ConsumerGroupState.STABLE and len(g.members) == count
               and (not every_member_assigned or all(m.assignment.topic_partitions for m in g.members))
               for g in described)
