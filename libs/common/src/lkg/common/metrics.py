"""Prometheus metrics shared by every service (exposed at ``/metrics``).

One process may host all five services, so every series carries a ``service`` label.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_LATENCY = Histogram(
    "lkg_http_request_duration_seconds",
    "HTTP request latency by route template.",
    ["service", "method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
EVENTS_PUBLISHED = Counter(
    "lkg_events_published_total", "Events published from the outbox to JetStream.", ["service", "type"]
)
EVENTS_CONSUMED = Counter(
    "lkg_events_consumed_total", "Events applied by a consumer (duplicates excluded).", ["service", "type"]
)
EVENTS_DUPLICATE = Counter(
    "lkg_events_duplicate_total", "Events recognised by the inbox as already applied.", ["service", "type"]
)
EVENTS_DEAD_LETTERED = Counter(
    "lkg_events_dead_lettered_total", "Events moved to the dead-letter stream.", ["service", "type"]
)
EVENTS_RETRIED = Counter(
    "lkg_events_retried_total",
    "Deliveries that failed and were scheduled for redelivery.",
    ["service", "type"],
)
OUTBOX_LAG = Gauge(
    "lkg_outbox_lag_seconds", "Age of the oldest unpublished outbox row (0 when empty).", ["service"]
)
OUTBOX_PENDING = Gauge("lkg_outbox_pending", "Unpublished outbox rows.", ["service"])
SCAN_DURATION = Histogram(
    "lkg_scan_duration_seconds",
    "Duration of one deadline scan run.",
    ["service", "scan"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0),
)
SCAN_ACTIONS = Counter("lkg_scan_actions_total", "Due rows acted on by scans.", ["service", "scan"])
