"""Endpoint records: the variants each endpoint serves, their traffic, history and metrics
(``ws.endpoints``), and guarded deployments."""

from kiln.endpoints._alarms import ALARM_METRICS
from kiln.endpoints._async import (
    AsyncInvocation,
    AsyncQueue,
    async_media_type,
    async_owner_id,
    async_payload_too_large,
    async_settings,
)
from kiln.endpoints._endpoints import CONFIG_SECTIONS, Endpoint, EndpointService
from kiln.endpoints._metrics import (
    DIFFERENCE_BOUNDS,
    LATENCY_BOUNDS,
    Histogram,
    VariantStats,
    prune_metrics,
    variant_series,
    variant_stats,
)
from kiln.endpoints._multimodel import (
    DEFAULT_MEMORY_BUDGET,
    MEMORY_FACTOR,
    MULTI_MODEL,
    estimated_memory,
    parse_memory_budget,
)
from kiln.endpoints._scaling import (
    AUTOSCALE_METRICS,
    ScalingEvent,
    autoscale_config,
    record_scaling_event,
    serverless_config,
)
from kiln.endpoints._strategy import (
    GRAMMAR,
    Strategy,
    format_duration,
    parse_duration,
    parse_strategy,
)
from kiln.endpoints._variants import LIVE, SHADOW, parse_weights

__all__ = [
    "ALARM_METRICS",
    "AUTOSCALE_METRICS",
    "CONFIG_SECTIONS",
    "AsyncInvocation",
    "AsyncQueue",
    "DEFAULT_MEMORY_BUDGET",
    "DIFFERENCE_BOUNDS",
    "GRAMMAR",
    "LATENCY_BOUNDS",
    "LIVE",
    "MEMORY_FACTOR",
    "MULTI_MODEL",
    "SHADOW",
    "Endpoint",
    "EndpointService",
    "Histogram",
    "ScalingEvent",
    "Strategy",
    "async_media_type",
    "async_owner_id",
    "async_payload_too_large",
    "async_settings",
    "VariantStats",
    "estimated_memory",
    "autoscale_config",
    "format_duration",
    "parse_duration",
    "parse_memory_budget",
    "parse_strategy",
    "parse_weights",
    "prune_metrics",
    "record_scaling_event",
    "serverless_config",
    "variant_series",
    "variant_stats",
]
