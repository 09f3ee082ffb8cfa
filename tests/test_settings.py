import json

import pytest

import kiln
from kiln.errors import ConfigError, WorkspaceNotFound
from kiln.settings import load_settings


def test_defaults_live_in_the_workspace(tmp_path):
    ws = kiln.Workspace.init(tmp_path / "w")
    assert ws.settings.store_url == f"sqlite:///{tmp_path / 'w' / 'kiln.db'}"
    assert ws.settings.artifacts_url == str(tmp_path / "w" / "artifacts")
    assert ws.settings.require_approval is True  # deploy takes Approved models only


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


def _settings_with(tmp_path, line: str):
    home = tmp_path / "w"
    kiln.Workspace.init(home)
    (home / "kiln.toml").write_text(f"[kiln]\n{line}\n")
    return home


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("-1", "-1"),
        ("0", "0"),
        ("true", "true"),
        ("1e99", "1e+99"),
        ("1.5", "1.5"),
        ('"10MB"', "'10MB'"),
        ("512", "512"),
        ("2147483648", "2147483648"),
    ],
)
def test_max_request_bytes_must_be_an_integer_in_range(tmp_path, value, shown):
    home = _settings_with(tmp_path, f"max_request_bytes = {value}")
    with pytest.raises(ConfigError) as error:
        load_settings(home)
    assert error.value.code == "config.bad-value"
    assert error.value.message == (
        "The 'max_request_bytes' setting must be an integer in [1024, 1073741824]. "
        f"Got {shown} (from {home / 'kiln.toml'})."
    )


def test_max_request_bytes_in_range_is_kept(tmp_path):
    home = _settings_with(tmp_path, "max_request_bytes = 2048")
    assert load_settings(home).max_request_bytes == 2048
    assert load_settings(home, max_request_bytes=4096).max_request_bytes == 4096


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("require_approval = 1", "require_approval"),
        ('require_approval = "yes"', "require_approval"),
        ("store_url = 5", "store_url"),
        ("artifacts_url = []", "artifacts_url"),
        ("executor = true", "executor"),
        ("ray_address = 1.5", "ray_address"),
        ("pii_key = 12345", "pii_key"),
    ],
)
def test_other_settings_are_checked_by_type(tmp_path, line, key):
    home = _settings_with(tmp_path, line)
    with pytest.raises(ConfigError, match=f"'{key}'") as error:
        load_settings(home)
    assert error.value.code == "config.bad-value"


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
        ("job_heartbeat_seconds = true", "must be a number of seconds above 0. Got true "),
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


def test_a_bad_value_names_where_it_came_from(tmp_path, monkeypatch):
    home = _settings_with(tmp_path, "")
    with pytest.raises(ConfigError, match=r"must be .* Got 12 \(from an argument\)\."):
        load_settings(home, max_request_bytes=12)
    with pytest.raises(ConfigError, match="unknown-setting|Unknown setting") as error:
        load_settings(home, max_request_byte=2048)
    assert error.value.code == "config.unknown-setting"


def test_every_setting_has_a_rule():
    from dataclasses import fields

    from kiln.settings import _RULES, Settings

    assert set(_RULES) == {f.name for f in fields(Settings)} - {"home", "extra"}


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


def test_flags_read_from_the_environment_take_words_and_refuse_others(tmp_path, monkeypatch):
    assert load_settings(tmp_path).warm_workers is True
    for text, value in (("0", False), ("false", False), ("1", True), ("Yes", True)):
        monkeypatch.setenv("KILN_WARM_WORKERS", text)
        assert load_settings(tmp_path).warm_workers is value
    monkeypatch.setenv("KILN_WARM_WORKERS", "sometimes")
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path)
    assert caught.value.code == "config.bad-value"
    assert "'warm_workers' setting must be true or false. Got 'sometimes'" in caught.value.message
    assert "$KILN_WARM_WORKERS" in caught.value.message
    # In kiln.toml a flag is still a TOML boolean.
    monkeypatch.delenv("KILN_WARM_WORKERS")
    (tmp_path / "kiln.toml").write_text('warm_workers = "0"\n')
    with pytest.raises(ConfigError):
        load_settings(tmp_path)
