import json

import pytest

import kiln
from kiln.errors import ConfigError, WorkspaceNotFound
from kiln.settings import load_settings


def test_defaults_live_in_the_workspace(tmp_path):
    ws = kiln.Workspace.init(tmp_path / "w")
    assert ws.settings.store_url == f"sqlite:///{tmp_path / 'w' / 'kiln.db'}"
    assert ws.settings.artifacts_url == str(tmp_path / "w" / "artifacts")
    assert ws.settings.require_approval is False


def test_environment_overrides_the_file_and_arguments_override_both(tmp_path, monkeypatch):
    home = tmp_path / "w"
    kiln.Workspace.init(home)
    (home / "kiln.toml").write_text(
        '[kiln]\nartifacts_url = "/from/file"\nrequire_approval = true\n'
    )
    monkeypatch.setenv("KILN_ARTIFACTS_URL", "/from/env")
    assert load_settings(home).artifacts_url == "/from/env"
    assert load_settings(home).require_approval is True
    assert load_settings(home, artifacts_url="/from/arg").artifacts_url == "/from/arg"


def test_unknown_setting_is_named(tmp_path):
    home = tmp_path / "w"
    kiln.Workspace.init(home)
    (home / "kiln.toml").write_text("[kiln]\nrequire_aproval = true\n")
    with pytest.raises(ConfigError, match="require_aproval"):
        load_settings(home)


def test_bad_toml_is_reported_with_the_file(tmp_path):
    home = tmp_path / "w"
    kiln.Workspace.init(home)
    (home / "kiln.toml").write_text("[kiln\n")
    with pytest.raises(ConfigError, match="kiln.toml"):
        load_settings(home)


def test_opening_a_missing_workspace_says_how_to_make_one(tmp_path):
    with pytest.raises(WorkspaceNotFound, match="kiln init"):
        kiln.Workspace(tmp_path / "nothing")


def test_kiln_home_environment_variable(tmp_path, monkeypatch):
    kiln.Workspace.init(tmp_path / "elsewhere")
    monkeypatch.setenv("KILN_HOME", str(tmp_path / "elsewhere"))
    assert kiln.Workspace().home == (tmp_path / "elsewhere").resolve()


def test_import_kiln_is_lazy():
    import subprocess
    import sys

    heavy = "('pandas', 'sklearn', 'sqlalchemy')"
    code = f"import sys, kiln; print(any(m in sys.modules for m in {heavy}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_job_liveness_settings_from_the_file_and_the_environment(tmp_path, monkeypatch):
    home = tmp_path / "w"
    kiln.Workspace.init(home)
    defaults = load_settings(home)
    assert (defaults.job_heartbeat_seconds, defaults.job_lost_after_seconds) == (5.0, 30.0)
    (home / "kiln.toml").write_text(
        "[kiln]\njob_heartbeat_seconds = 1\njob_lost_after_seconds = 10\n"
    )
    assert load_settings(home).job_heartbeat_seconds == 1.0
    monkeypatch.setenv("KILN_JOB_LOST_AFTER_SECONDS", "4.5")
    assert load_settings(home).job_lost_after_seconds == 4.5


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("job_heartbeat_seconds = 0", "'job_heartbeat_seconds' setting must be a number"),
        ("job_lost_after_seconds = 'soon'", "'job_lost_after_seconds' setting must be a number"),
        ("job_heartbeat_seconds = true", "must be a number of seconds above 0. Got True."),
        ("job_heartbeat_seconds = inf", "above 0"),
        ("job_heartbeat_seconds = 10\njob_lost_after_seconds = 15", "at least twice"),
    ],
)
def test_bad_job_liveness_settings_are_refused(tmp_path, text, match):
    home = tmp_path / "w"
    kiln.Workspace.init(home)
    (home / "kiln.toml").write_text(f"[kiln]\n{text}\n")
    with pytest.raises(ConfigError, match=match) as error:
        load_settings(home)
    assert error.value.code == "config.bad-value"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("request_timeout_seconds", 0),
        ("request_timeout_seconds", "soon"),
        ("max_concurrent_requests", 0),
        ("max_concurrent_requests", True),
        ("max_concurrent_requests", 2.5),
        ("form_bodies_as_json", "yes"),
        ("allowed_hosts", 3),
        ("cors_origins", [1]),
    ],
)
def test_server_settings_are_checked(tmp_path, name, value):
    (tmp_path / "kiln.toml").write_text(f"{name} = {json.dumps(value)}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path)
    assert caught.value.code == "config.bad-value" and name in caught.value.message
