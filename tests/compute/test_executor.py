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
