"""Prometheus metrics, served at ``/metrics`` (prometheus-client, text format).

Counters are incremented where things happen (GraphQL requests in schema/telemetry.py,
evaluations in api/outcomes.py, SLA breaches in api/periodic.py, bulk progress in api/bulk.py);
engine worker restarts and the database pool are read when Prometheus scrapes.

Operation names come from clients, so they are bounded: a name that is not a plain GraphQL
name, or beyond the first ``MAX_OPERATIONS`` distinct names, is counted as ``other``.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector
from starlette.requests import Request
from starlette.responses import Response
from tortoise import Tortoise

from rules.pool import worker_restarts

# no *_created series: start times are noise on a dashboard
disable_created_metrics()  # type: ignore[no-untyped-call]
MAX_OPERATIONS: Final = 100
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")

REQUESTS = Counter(
    "leadgate_graphql_requests",
    "GraphQL operations by operation name, type and outcome (ok or the first error code)",
    ["operation", "type", "outcome"],
)
LATENCY = Histogram(
    "leadgate_graphql_request_duration_seconds",
    "Time to execute a GraphQL operation",
    ["operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVALUATIONS = Counter(
    "leadgate_evaluations",
    "Stored evaluations by trigger and outcome (unchanged, moved, handoff, refused)",
    ["trigger", "outcome"],
)
SLA_BREACHES = Counter("leadgate_sla_breaches", "Handoffs expired because their SLA passed")
ESCALATIONS = Counter(
    "leadgate_handoff_escalations", "Handoff owner changes because nobody accepted in time"
)
BULK_LEADS = Gauge(
    "leadgate_bulk_job_leads",
    "The running (or last) bulk evaluation per trigger: leads in the job and leads done",
    ["trigger", "state"],
)

_seen: set[str] = set()
_lock = threading.Lock()


def operation_label(name: str | None) -> str:
    """A bounded label for a client-chosen operation name."""
    if not name:
        return "anonymous"
    if not _NAME.fullmatch(name):
        return "other"
    with _lock:
        if name in _seen:
            return name
        if len(_seen) >= MAX_OPERATIONS:
            return "other"
        _seen.add(name)
    return name


def count_evaluation(trigger: str, outcome: str) -> None:
    _evaluations(trigger, outcome).inc()


@functools.cache
def _evaluations(trigger: str, outcome: str) -> Counter:
    """The labelled counter, looked up once per label pair (bulk runs count every lead)."""
    return EVALUATIONS.labels(trigger=trigger, outcome=outcome)


class _ScrapeTime(Collector):
    """Values read when Prometheus scrapes: engine worker restarts and the DB pool."""

    def collect(self) -> Iterator[Any]:
        restarts = CounterMetricFamily(
            "leadgate_engine_worker_restarts",
            "Rule-engine worker processes replaced after a crash, timeout or engine error",
        )
        restarts.add_metric([], worker_restarts())
        yield restarts
        pool = GaugeMetricFamily(
            "leadgate_db_pool_connections",
            "Database pool connections by state (PostgreSQL; SQLite has no pool)",
            labels=["state"],
        )
        for state, value in _pool_use().items():
            pool.add_metric([state], value)
        yield pool


def _pool_use() -> dict[str, float]:
    try:
        connection = Tortoise.get_connection("default")
    except Exception:  # not initialised (CLI, tests without a database)
        return {}
    pool = getattr(connection, "_pool", None)
    if pool is None or not hasattr(pool, "get_size"):
        return {}
    size, idle = pool.get_size(), pool.get_idle_size()
    return {"in_use": size - idle, "idle": idle, "max": pool.get_max_size()}


REGISTRY.register(_ScrapeTime())


ROUTING_SHARE = Gauge(
    "leadgate_routing_share",
    "This ISO week per route and rep (id): leads assigned and the share entitled by weight "
    "and availability (rules/pick.py); entitled minus assigned is how far below share",
    ["route", "rep", "kind"],
)


async def _refresh_shares() -> None:
    from api.fairness import share_gauges  # the ORM only once the app runs

    try:
        rows = await share_gauges(datetime.now(UTC))
    except Exception:  # no database (CLI, tests without one): the gauge stays as it was
        return
    ROUTING_SHARE.clear()
    for route, rep, assigned, entitled in rows:
        ROUTING_SHARE.labels(route=route, rep=str(rep), kind="assigned").set(assigned)
        ROUTING_SHARE.labels(route=route, rep=str(rep), kind="entitled").set(entitled)


async def metrics(request: Request) -> Response:
    """The Prometheus scrape endpoint."""
    await _refresh_shares()
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
