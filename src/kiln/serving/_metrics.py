"""What a server measures per variant: Prometheus metrics for ``GET /metrics``, and the same
figures per period written to the workspace (``variant_metrics``) for alarms, ``kiln endpoints
show`` and ``compare``, which may run in other processes than the server."""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import CollectorRegistry
from prometheus_client import Counter as PromCounter
from prometheus_client import Histogram as PromHistogram
from prometheus_client import Summary as PromSummary

from kiln.endpoints import (
    DIFFERENCE_BOUNDS,
    LATENCY_BOUNDS,
    Histogram,
    VariantStats,
    prune_metrics,
)
from kiln.store import VariantMetricsRow, now

log = logging.getLogger("kiln.serving")

# How often a server writes what it saw to the workspace. Alarms read these rows, so this bounds
# how late an alarm can fire, and how much is lost when the server is killed.
FLUSH_SECONDS = 1.0
# Per-second rows older than this are deleted (hourly, by each server).
KEEP_DAYS = 30.0
PRUNE_EVERY_SECONDS = 3600.0
_LABELS = ("endpoint", "variant", "model")


@dataclass
class _Children:
    invocations: object
    errors_4xx: object
    errors_5xx: object
    model_latency: object
    overhead_latency: object
    values: object
    labels: dict = field(default_factory=dict)


class ServingMetrics:
    """Per-variant counters and histograms, in Prometheus and in the workspace."""

    def __init__(self, workspace, registry: CollectorRegistry | None = None):
        self.workspace = workspace
        self.registry = registry if registry is not None else CollectorRegistry()
        self.invocations = PromCounter(
            "kiln_invocations", "Requests answered by a variant.", _LABELS, registry=self.registry
        )
        self.errors = PromCounter(
            "kiln_invocation_errors",
            "Requests a variant answered with an error, by status class (4xx, 5xx).",
            (*_LABELS, "status_class"),
            registry=self.registry,
        )
        self.model_latency = PromHistogram(
            "kiln_model_latency_seconds",
            "Time spent in the model (parsing, recipe and prediction).",
            _LABELS,
            buckets=LATENCY_BOUNDS,
            registry=self.registry,
        )
        self.overhead_latency = PromHistogram(
            "kiln_overhead_latency_seconds",
            "Time spent in the server outside the model (routing, reading, writing).",
            _LABELS,
            buckets=LATENCY_BOUNDS,
            registry=self.registry,
        )
        self.predicted_labels = PromCounter(
            "kiln_predicted_labels",
            "Predicted classes, per variant.",
            (*_LABELS, "label"),
            registry=self.registry,
        )
        self.predicted_values = PromSummary(
            "kiln_predicted_values",
            "Predicted values, per variant.",
            _LABELS,
            registry=self.registry,
        )
        self.shadow_comparisons = PromCounter(
            "kiln_shadow_comparisons",
            "Requests copied to a shadow variant, by outcome (agreed, disagreed, error).",
            (*_LABELS, "outcome"),
            registry=self.registry,
        )
        self._labelled: dict[tuple[str, str, str], _Children] = {}
        self._lock = threading.Lock()
        self._periods: dict[tuple[str, str, str], VariantStats] = {}
        self._period_start = now()
        self._worker = f"{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_flush_error: str | None = None

    # -- recording (any thread) -------------------------------------------------------------
    def _children(self, endpoint: str, variant: str, model: str) -> _Children:
        """The Prometheus children of one variant, looked up once: ``labels()`` takes a lock and
        builds a key on every call, which the request path need not pay."""
        key = (endpoint, variant, model)
        children = self._labelled.get(key)
        if children is None:
            children = self._labelled[key] = _Children(
                self.invocations.labels(*key),
                self.errors.labels(*key, "4xx"),
                self.errors.labels(*key, "5xx"),
                self.model_latency.labels(*key),
                self.overhead_latency.labels(*key),
                self.predicted_values.labels(*key),
            )
        return children

    def _period(self, endpoint: str, variant: str, model: str, role: str) -> VariantStats:
        key = (endpoint, variant, model)
        period = self._periods.get(key)
        if period is None:
            period = self._periods[key] = VariantStats(variant, role=role)
        return period

    def request(
        self,
        endpoint: str,
        variant: str,
        model: str,
        *,
        status: int,
        total_seconds: float,
        model_seconds: float,
        role: str = "live",
    ) -> None:
        """One answered request of a variant."""
        overhead = max(0.0, total_seconds - model_seconds)
        children = self._children(endpoint, variant, model)
        children.invocations.inc()
        if status >= 400:
            (children.errors_4xx if status < 500 else children.errors_5xx).inc()
        children.model_latency.observe(model_seconds)
        children.overhead_latency.observe(overhead)
        with self._lock:
            period = self._period(endpoint, variant, model, role)
            period.invocations += 1
            if 400 <= status < 500:
                period.errors_4xx += 1
            elif status >= 500:
                period.errors_5xx += 1
            period.model_latency.observe(model_seconds)
            period.overhead_latency.observe(overhead)

    def predictions(self, endpoint: str, variant: str, model: str, predictions: list) -> None:
        """The distribution of what a variant predicted."""
        labels: Counter = Counter()
        values: list[float] = []
        for prediction in predictions:
            if "label" in prediction:
                labels[str(prediction["label"])] += 1
            elif "value" in prediction:
                values.append(float(prediction["value"]))
            elif "cluster" in prediction:
                labels[str(prediction["cluster"])] += 1
            elif "anomaly" in prediction:
                labels[str(prediction["anomaly"]).lower()] += 1
            elif "forecast" in prediction:  # a series' forecast: its steps' means
                values.extend(float(step["mean"]) for step in prediction["forecast"])
        children = self._children(endpoint, variant, model)
        for label, count in labels.items():
            child = children.labels.get(label)
            if child is None:
                child = children.labels[label] = self.predicted_labels.labels(
                    endpoint, variant, model, label
                )
            child.inc(count)
        for value in values:
            children.values.observe(value)
        with self._lock:
            period = self._period(endpoint, variant, model, "live")
            period.labels.update(labels)
            finite = [v for v in values if math.isfinite(v)]
            if finite:
                v = period.values or dict(
                    count=0, sum=0.0, sum_squares=0.0, min=math.inf, max=-math.inf
                )
                v["count"] += len(finite)
                v["sum"] += sum(finite)
                v["sum_squares"] += sum(x * x for x in finite)
                v["min"] = min(v["min"], *finite)
                v["max"] = max(v["max"], *finite)
                period.values = v

    def shadow(
        self,
        endpoint: str,
        variant: str,
        model: str,
        *,
        agreed: bool | None,
        difference: float | None,
        shadow_seconds: float,
        live_seconds: float,
        error: bool,
    ) -> None:
        """One request copied to a shadow variant, compared with the live answer."""
        outcome = "error" if error else ("agreed" if agreed else "disagreed")
        self.shadow_comparisons.labels(endpoint, variant, model, outcome).inc()
        self.request(
            endpoint,
            variant,
            model,
            status=500 if error else 200,
            total_seconds=shadow_seconds,
            model_seconds=shadow_seconds,
            role="shadow",
        )
        with self._lock:
            period = self._period(endpoint, variant, model, "shadow")
            period.role = "shadow"
            c = period.comparison
            c["compared"] = c.get("compared", 0) + 1
            c["agreed"] = c.get("agreed", 0) + (1 if agreed else 0)
            c["errors"] = c.get("errors", 0) + (1 if error else 0)
            if difference is not None:
                c.setdefault("probability_difference", Histogram(DIFFERENCE_BOUNDS)).observe(
                    difference
                )
            c.setdefault("live_latency", Histogram()).observe(live_seconds)

    # -- writing to the workspace -----------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop = stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(stop,), name="kiln-metrics", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the writer thread and write what is left."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()

    def _run(self, stop: threading.Event) -> None:
        next_prune = 0.0
        while not stop.wait(FLUSH_SECONDS):
            self.flush()
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
                try:
                    prune_metrics(self.workspace.store, older_than_days=KEEP_DAYS)
                except Exception:  # noqa: BLE001 - the store is busy or down: next hour
                    log.debug("Could not prune old serving metrics", exc_info=True)

    def flush(self) -> None:
        """Write the current period's figures (one row per variant), and start a new period."""
        with self._lock:
            periods, self._periods = self._periods, {}
            started, self._period_start = self._period_start, now()
        if not periods:
            return
        seconds = max(1e-3, (self._period_start - started).total_seconds())
        rows = [_row(key, p, started, seconds, self._worker) for key, p in periods.items()]
        try:
            with self.workspace.store.write() as session:
                session.add_all(rows)
        except Exception as exc:  # the store is down: Prometheus still has the figures
            message = f"{type(exc).__name__}: {str(exc)[:200]}"
            if message != self.last_flush_error:
                log.warning("Could not write serving metrics to the workspace: %s", message)
            self.last_flush_error = message
        else:
            self.last_flush_error = None


def _row(key, period: VariantStats, started: datetime, seconds: float, worker: str):
    endpoint, variant, model = key
    comparison = {
        k: (v.to_dict() if isinstance(v, Histogram) else v) for k, v in period.comparison.items()
    }
    predictions: dict = {}
    if period.labels:
        predictions["labels"] = dict(period.labels)
    if period.values:
        predictions["values"] = period.values
    return VariantMetricsRow(
        endpoint=endpoint,
        variant=variant,
        model=model,
        role=period.role,
        period_start=started,
        period_seconds=seconds,
        worker=worker,
        invocations=period.invocations,
        errors_4xx=period.errors_4xx,
        errors_5xx=period.errors_5xx,
        model_latency=period.model_latency.to_dict(),
        overhead_latency=period.overhead_latency.to_dict(),
        predictions=predictions,
        comparison=comparison,
    )
