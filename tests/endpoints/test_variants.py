"""An endpoint's variants through the SDK: adding, weighting, removing, shadows, promotion,
rollback and history, and the errors for each kind of bad input; the strategy and alarm
grammars."""

import pytest

from kiln.endpoints import GRAMMAR, VariantStats, parse_strategy
from kiln.endpoints._alarms import MetricAlarm, Window, default_alarms, parse_alarms
from kiln.errors import ConfigError, NotFound, StateError


def test_variants_weights_and_removal(two_models_copy):
    ws, first, second = two_models_copy
    endpoint = ws.endpoints.deploy(second, endpoint="churn", variant="green", weight=0.25)
    assert [(v["name"], v["model"], v["weight"]) for v in endpoint.variants] == [
        ("primary", first, 1.0),
        ("green", second, 0.25),
    ]
    assert endpoint.shares == {"primary": 0.8, "green": 0.2}
    assert endpoint.model == first  # the variant with most traffic
    endpoint = ws.endpoints.update("churn", weights="primary=0.5,green=1.5")
    assert endpoint.shares == {"primary": 0.25, "green": 0.75} and endpoint.model == second
    # Repointing a variant at another model keeps its traffic.
    endpoint = ws.endpoints.deploy(first, endpoint="churn", variant="green")
    assert [(v["name"], v["model"], v["weight"]) for v in endpoint.variants][1] == (
        "green",
        first,
        1.5,
    )
    endpoint = ws.endpoints.update("churn", remove=["green"])
    assert [v["name"] for v in endpoint.variants] == ["primary"]
    history = ws.endpoints.history("churn")
    assert history[-1]["note"] == "update -green"
    assert history[-3]["note"] == "update primary=0.5, green=1.5"
    # A plain deploy replaces the live variants with one.
    ws.endpoints.deploy(second, endpoint="churn", variant="green", weight=1)
    endpoint = ws.endpoints.deploy(second, endpoint="churn")
    assert [(v["name"], v["model"]) for v in endpoint.variants] == [("primary", second)]


@pytest.mark.parametrize(
    ("weights", "code"),
    [
        ("primary=-1", "endpoints.bad-weight"),
        ("primary=nan", "endpoints.bad-weight"),
        ("primary", "endpoints.bad-weight"),
        ("primary=0", "endpoints.zero-weights"),
        ("blue=0.5", "endpoints.unknown-variant"),
        ("", "endpoints.bad-weight"),
        (None, "endpoints.nothing-to-update"),
    ],
)
def test_bad_weights_are_refused_and_change_nothing(two_models_copy, weights, code):
    ws, _, _ = two_models_copy
    before = ws.endpoints.get("churn")
    with pytest.raises((ConfigError, StateError)) as raised:
        ws.endpoints.update("churn", weights=weights)
    assert raised.value.code == code
    if weights:
        assert weights.split("=")[0] in raised.value.message
    assert ws.endpoints.get("churn").revision == before.revision


def test_a_rejected_model_is_never_a_variant_and_the_last_live_variant_stays(two_models_copy):
    ws, first, second = two_models_copy
    ws.models.reject(second, reason="worse on the holdout")
    for options in ({"variant": "green"}, {"shadow": True}):
        with pytest.raises(StateError) as raised:
            ws.endpoints.deploy(second, endpoint="churn", **options)
        assert raised.value.code == "registry.rejected"
    with pytest.raises(StateError) as raised:
        ws.endpoints.update("churn", remove=["primary"])
    assert raised.value.code == "endpoints.no-live-variant"
    with pytest.raises(ConfigError) as raised:
        ws.endpoints.deploy(first, endpoint="churn", variant="green", weight=-2)
    assert raised.value.code == "endpoints.bad-weight"
    with pytest.raises(ConfigError) as raised:
        ws.endpoints.deploy(first, endpoint="churn", shadow=True, sample=1.5)
    assert raised.value.code == "endpoints.bad-sample"
    with pytest.raises(NotFound):
        ws.endpoints.deploy(first, endpoint="nowhere", shadow=True)


def test_a_shadow_variant_promotion_and_rollback(two_models_copy):
    ws, first, second = two_models_copy
    endpoint = ws.endpoints.deploy(second, endpoint="churn", shadow=True, sample=0.25)
    assert endpoint.variants[-1] | {} == endpoint.variants[-1]
    assert [(v["name"], v["role"], v.get("sample")) for v in endpoint.variants] == [
        ("primary", "live", None),
        ("shadow", "shadow", 0.25),
    ]
    assert endpoint.shares == {"primary": 1.0}
    with pytest.raises(StateError) as raised:
        ws.endpoints.update("churn", weights={"shadow": 1})
    assert raised.value.code == "endpoints.variant-is-shadow"
    with pytest.raises(StateError):
        ws.endpoints.promote("churn", "primary")
    promoted = ws.endpoints.promote("churn", "shadow", replace=False, weight=0.5)
    assert [(v["name"], v["role"]) for v in promoted.variants] == [
        ("shadow", "live"),
        ("primary", "live"),
    ]
    rolled = ws.endpoints.rollback("churn")
    assert [v["role"] for v in rolled.variants] == ["live", "shadow"]
    assert (
        ws.endpoints.history("churn")[-1]["note"] == f"rollback to revision {rolled.revision - 2}"
    )
    first_revision = ws.endpoints.rollback("churn", to=1)
    assert [(v["name"], v["model"]) for v in first_revision.variants] == [("primary", first)]
    with pytest.raises(NotFound) as raised:
        ws.endpoints.rollback("churn", to=99)
    assert raised.value.code == "endpoints.no-such-revision"
    ws.models.archive(second, reason="superseded")
    with pytest.raises(StateError) as raised:
        ws.endpoints.rollback("churn", to=3)  # revision 3 served churn:2, now Archived
    assert raised.value.code == "registry.rejected"


@pytest.mark.parametrize(
    ("text", "kind", "steps", "bake"),
    [
        ("all-at-once", "all-at-once", (1.0,), 0),
        ("canary:10%:5m", "canary", (0.1, 1.0), 300),
        ("Canary:100%:30s", "canary", (1.0,), 30),
        ("linear:25%:2m", "linear", (0.25, 0.5, 0.75, 1.0), 120),
        ("linear:40%:10s", "linear", (0.4, 0.8, 1.0), 10),
        ("blue-green", "blue-green", (1.0,), 300),
        ("blue-green:1h", "blue-green", (1.0,), 3600),
    ],
)
def test_strategies(text, kind, steps, bake):
    strategy = parse_strategy(text)
    assert (strategy.kind, strategy.bake_seconds) == (kind, bake)
    assert strategy.steps == pytest.approx(steps)
    assert parse_strategy(strategy.text) == strategy


@pytest.mark.parametrize(
    "text", ["canary", "canary:10:5m", "canary:0%:5m", "linear:25%:5 weeks", "rolling", ""]
)
def test_a_strategy_that_does_not_parse_shows_the_grammar(text):
    with pytest.raises(ConfigError) as raised:
        parse_strategy(text)
    assert raised.value.code == "endpoints.bad-strategy"
    assert GRAMMAR in raised.value.message and repr(text) in raised.value.message


def _stats(name, invocations, errors=0, latency=0.001):
    stats = VariantStats(name)
    stats.invocations, stats.errors_4xx = invocations, errors
    for _ in range(invocations):
        stats.model_latency.observe(latency)
    return stats


def test_alarms_fire_on_the_new_variant_against_the_old():
    relative_errors, five_xx, latency = default_alarms()
    healthy = Window(_stats("new", 50), _stats("old", 50), 60)
    assert not any(a.check(healthy).firing for a in default_alarms())
    failing = Window(_stats("new", 50, errors=10), _stats("old", 50, errors=1), 60)
    state = relative_errors.check(failing)
    assert state.firing and state.evidence["new"] == 0.2 and state.evidence["old"] == 0.02
    too_few = Window(_stats("new", 5, errors=5), _stats("old", 50), 60)
    assert not relative_errors.check(too_few).firing  # 5 requests are not evidence yet
    slow = Window(_stats("new", 50, latency=0.05), _stats("old", 50, latency=0.001), 60)
    assert latency.check(slow).firing and "p99_latency_ms" in latency.check(slow).message
    alarm = parse_alarms(["p99_latency_ms>20"])[0]
    assert isinstance(alarm, MetricAlarm) and alarm.check(slow).firing
    assert parse_alarms(["none"]) == []
    assert len(parse_alarms(["default", "error_rate>0.5"])) == 4
    with pytest.raises(ConfigError) as raised:
        parse_alarms(["latency>5"])
    assert raised.value.code == "endpoints.bad-alarm" and "p99_latency_ms" in raised.value.message


def test_promoting_a_shadow_with_a_strategy_ends_the_shadow_test(two_models_copy):
    ws, first, second = two_models_copy
    ws.endpoints.deploy(second, endpoint="churn", shadow=True, variant="candidate")
    job = ws.endpoints.promote("churn", "candidate", strategy="blue-green:1s", alarms=["none"])
    assert job.result["outcome"] == "completed"
    endpoint = ws.endpoints.get("churn")
    assert [(v["model"], v["role"]) for v in endpoint.variants] == [(second, "live")]
    notes = [h["note"] for h in ws.endpoints.history("churn")]
    assert "shadow candidate promoted by blue-green:1s" in notes
