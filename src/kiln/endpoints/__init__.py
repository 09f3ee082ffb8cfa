"""Endpoint records: the variants each endpoint serves, their traffic, history and metrics
(``ws.endpoints``), and guarded deployments."""

from kiln.endpoints._alarms import ALARM_METRICS
from kiln.endpoints._endpoints import CONFIG_SECTIONS, Endpoint, EndpointService
from kiln.endpoints._metrics import (
    DIFFERENCE_BOUNDS,
    LATENCY_BOUNDS,
    Histogram,
    VariantStats,
    prune_metrics,
    variant_stats,
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
    "DIFFERENCE_BOUNDS",
    "GRAMMAR",
    "LATENCY_BOUNDS",
    "LIVE",
    "SHADOW",
    "Endpoint",
    "EndpointService",
    "Histogram",
    "ScalingEvent",
    "Strategy",
    "VariantStats",
    "autoscale_config",
    "format_duration",
    "parse_duration",
    "parse_strategy",
    "parse_weights",
    "prune_metrics",
    "record_scaling_event",
    "serverless_config",
    "variant_stats",
]
