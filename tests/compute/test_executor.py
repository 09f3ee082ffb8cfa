import pytest

from kiln.compute import LocalExecutor, executor_for
from kiln.context import Context
from kiln.errors import ConfigError


def test_the_executor_setting_picks_the_executor(tmp_path):
    ctx = Context.init(tmp_path / "ws")
    assert isinstance(executor_for(ctx), LocalExecutor)
    assert ctx.environment()["KILN_EXECUTOR"] == "local"
    ctx.close()


def test_an_unknown_executor_is_refused_with_the_choices(tmp_path):
    ctx = Context.init(tmp_path / "ws", executor="dask")
    with pytest.raises(ConfigError, match="Unknown executor 'dask'.*local, ray") as caught:
        executor_for(ctx)
    assert caught.value.code == "settings.bad-executor"
    ctx.close()


def test_the_ray_executor_without_ray_installed_says_how_to_install_it(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # what 'import ray' meets without the package
    ctx = Context.init(tmp_path / "ws", executor="ray")
    job = ctx.jobs.create("training", {})
    with pytest.raises(ConfigError, match=r"pip install 'kiln\[ray\]'") as caught:
        executor_for(ctx).run(job)
    assert caught.value.code == "executor.ray-missing"
    assert ctx.jobs.get(job.id).status == "Failed"
    ctx.close()


def test_kiln_and_its_commands_do_not_import_ray():
    import subprocess
    import sys

    code = "import sys, kiln.cli, kiln.workspace, kiln.compute; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_job_run_in_the_background_is_watched_and_its_failure_recorded(tmp_path):
    from kiln.compute import run_in_background

    ctx = Context.init(tmp_path / "ws")
    job = ctx.jobs.create("training", {})  # an empty spec: the job fails in its process
    thread = run_in_background(ctx, job)
    assert thread.daemon
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert ctx.jobs.get(job.id).status == "Failed"
    ctx.close()
