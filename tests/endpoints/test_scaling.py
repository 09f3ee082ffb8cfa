"""Scaling configuration: serverless and autoscale sections checked before anything changes, set
through deploy and the endpoints commands, and the record of scaling actions."""

import pytest

from kiln.endpoints import autoscale_config, record_scaling_event, serverless_config
from kiln.errors import ConfigError


@pytest.mark.parametrize(
    ("options", "code", "shown"),
    [
        ({"max_concurrency": 0}, "serverless.bad-max-concurrency", "Got 0"),
        ({"max_concurrency": -3}, "serverless.bad-max-concurrency", "Got -3"),
        ({"idle_timeout": "soon"}, "endpoints.bad-duration", "'soon'"),
        ({"idle_timeout": "0s"}, "serverless.bad-idle-timeout", "'0s'"),
    ],
)
def test_bad_serverless_settings_are_refused_with_the_value(options, code, shown):
    with pytest.raises(ConfigError, match=shown) as caught:
        serverless_config(**options)
    assert caught.value.code == code


def test_serverless_defaults_and_durations():
    assert serverless_config() == {"max_concurrency": 20, "idle_timeout_seconds": 600.0}
    assert serverless_config(max_concurrency=3, idle_timeout="250ms") == {
        "max_concurrency": 3,
        "idle_timeout_seconds": 0.25,
    }


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"min_workers": 3, "max_workers": 2, "target_cpu": 50}, "autoscale.bad-bounds"),
        ({"max_workers": 0, "target_cpu": 50}, "autoscale.bad-bounds"),
        ({"max_workers": 2}, "autoscale.bad-target"),
        ({"max_workers": 2, "target_cpu": 50, "target_p99_ms": 20}, "autoscale.bad-target"),
        ({"max_workers": 2, "target_cpu": 150}, "autoscale.bad-target"),
        ({"max_workers": 2, "target_invocations_per_worker": -1}, "autoscale.bad-target"),
        (
            {"max_workers": 2, "target_cpu": 50, "scale_in_cooldown": "later"},
            "endpoints.bad-duration",
        ),
    ],
)
def test_bad_autoscale_policies_are_refused(options, code):
    with pytest.raises(ConfigError) as caught:
        autoscale_config(**options)
    assert caught.value.code == code


def test_deploy_serverless_flags_and_bad_input(trained_copy, run_cli):
    ws, result = trained_copy
    ref, home = result.model.ref, ws.home
    revision = ws.endpoints.get("churn").revision
    bad = [
        (["--serverless", "--max-concurrency", "0"], "serverless.bad-max-concurrency"),
        (["--serverless", "--max-concurrency", "-2"], "serverless.bad-max-concurrency"),
        (["--serverless", "--idle-timeout", "soon"], "endpoints.bad-duration"),
        (["--max-concurrency", "4"], "serverless.not-serverless"),
    ]
    for flags, code in bad:
        out = run_cli("deploy", ref, "--endpoint", "churn", "--allow-unapproved", *flags, home=home)
        assert out.returncode != 0 and code in out.stdout + out.stderr, (flags, out)
    assert ws.endpoints.get("churn").revision == revision  # nothing written
    run_cli(
        "deploy", ref, "--endpoint", "quiet", "--allow-unapproved", "--serverless",
        "--max-concurrency", "4", "--idle-timeout", "90s", home=home, check=True,
    )  # fmt: skip
    endpoint = ws.endpoints.get("quiet")
    assert endpoint.config == {"serverless": {"max_concurrency": 4, "idle_timeout_seconds": 90.0}}
    assert endpoint.revision == 1  # created serverless, in one revision
    # A later deployment keeps the endpoint's configuration.
    ws.endpoints.deploy(ref, endpoint="quiet", allow_unapproved=True)
    assert ws.endpoints.get("quiet").config == endpoint.config
    out = run_cli("endpoints", "serverless", "quiet", "--off", home=home, check=True)
    assert "quiet: off (revision" in out.stdout and ws.endpoints.get("quiet").config == {}


def test_autoscale_command_and_scaling_events(trained_copy, run_cli):
    ws, _ = trained_copy
    home = ws.home
    out = run_cli(
        "endpoints", "autoscale", "churn", "--min", "1", "--max", "4",
        "--target-invocations-per-worker", "200", "--scale-in-cooldown", "2m", home=home,
    )  # fmt: skip
    assert out.returncode == 0, out
    assert ws.endpoints.get("churn").config["autoscale"] == {
        "min_workers": 1,
        "max_workers": 4,
        "metric": "invocations_per_worker",
        "target": 200.0,
        "scale_out_cooldown_seconds": 60.0,
        "scale_in_cooldown_seconds": 120.0,
    }
    out = run_cli("endpoints", "autoscale", "churn", "--max", "2", home=home)
    assert out.returncode != 0 and "autoscale.bad-target" in out.stdout + out.stderr
    assert "no scaling actions" in run_cli("endpoints", "scaling", "churn", home=home).stdout
    record_scaling_event(
        ws.store, "churn", "scale-out", before=1, after=3, metric="invocations_per_worker",
        value=512.0, reason="sustained load",
    )  # fmt: skip
    out = run_cli("endpoints", "scaling", "churn", home=home, check=True)
    assert "scale-out" in out.stdout and "invocations_per_worker" in out.stdout
    (event,) = ws.endpoints.scaling_events("churn")
    assert (event.action, event.before, event.after, event.value) == ("scale-out", 1, 3, 512.0)
    # --off with a policy would ignore it: refused, naming what was given, nothing changed.
    out = run_cli("endpoints", "autoscale", "churn", "--off", "--max", "3", home=home)
    assert out.returncode != 0 and "endpoints.off-with-settings" in out.stdout + out.stderr
    assert "max_workers" in out.stdout + out.stderr
    assert "autoscale" in ws.endpoints.get("churn").config
    out = run_cli("endpoints", "serverless", "churn", "--off", "--idle-timeout", "5m", home=home)
    assert out.returncode != 0 and "endpoints.off-with-settings" in out.stdout + out.stderr
    run_cli("endpoints", "autoscale", "churn", "--off", home=home, check=True)
    assert "autoscale" not in ws.endpoints.get("churn").config


def test_changing_one_serverless_setting_keeps_the_other(trained_copy):
    ws, _ = trained_copy
    ws.endpoints.set_serverless("churn", max_concurrency=5, idle_timeout="2m")
    ws.endpoints.set_serverless("churn", idle_timeout="30m")
    assert ws.endpoints.get("churn").config["serverless"] == {
        "max_concurrency": 5,
        "idle_timeout_seconds": 1800.0,
    }
    ws.endpoints.set_serverless("churn", max_concurrency=7)
    assert ws.endpoints.get("churn").config["serverless"]["idle_timeout_seconds"] == 1800.0


def test_a_multi_model_endpoint_cannot_be_made_serverless(trained_copy):
    from kiln.errors import StateError

    ws, _ = trained_copy
    ws.endpoints.deploy(endpoint="stores", multi_model=True, allow_unapproved=True)
    revision = ws.endpoints.get("stores").revision
    with pytest.raises(StateError, match="'stores' is a multi-model") as caught:
        ws.endpoints.set_serverless("stores", idle_timeout="1m")
    assert caught.value.code == "multimodel.not-supported"
    assert ws.endpoints.get("stores").revision == revision  # nothing written
    ws.endpoints.set_serverless("stores", off=True)  # turning it off is always allowed


def test_endpoints_show_names_the_scaling_and_async_settings(trained_copy, run_cli):
    ws, _ = trained_copy
    ws.endpoints.set_serverless("churn", max_concurrency=5, idle_timeout="2m")
    ws.endpoints.set_autoscale("churn", max_workers=3, target_cpu=60)
    ws.endpoints.async_config("churn", timeout="5m")
    out = run_cli("endpoints", "show", "churn", home=ws.home, check=True).stdout
    fields = {
        line.split()[0]: " ".join(line.split()[1:])
        for line in out.splitlines()
        if line.startswith("  ") and line.strip()
    }
    assert fields["serverless"] == "max_concurrency=5, idle_timeout_seconds=120"
    assert fields["autoscale"].startswith("min_workers=1, max_workers=3, metric=cpu_percent")
    assert fields["async"] == "timeout_seconds=300"


def test_a_guarded_deploy_refused_up_front_leaves_the_endpoint_as_it_was(two_models_copy):
    ws, _, second = two_models_copy
    before = ws.endpoints.get("churn")
    for options in ({"alarms": ["nosuch"]}, {"alarm_window": "nonsense"}):
        with pytest.raises(ConfigError):
            ws.endpoints.deploy(
                second, endpoint="churn", strategy="canary:10%:5m", serverless=True, **options
            )
    after = ws.endpoints.get("churn")
    assert (after.revision, after.config) == (before.revision, before.config)
