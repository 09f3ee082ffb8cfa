"""Output you can copy: tables never cut an id, a path or a number, and ``--help`` shows flags
as flags and one-line summaries."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer.main
from rich.console import Console

from kiln.cli import _common

LONG_PATH = "/data/exports/2026/december/predictions_of_the_churn_model_for_the_board.parquet"


def _workspace_with_jobs(home):
    """A training job that registered a model and a transform job that wrote a long path."""
    import kiln

    ws = kiln.Workspace.init(home)
    training = ws.jobs.create(
        "training", {"hyperparameters": {"max_depth": 4, "learning_rate": 0.0123456789}}
    )
    ws.jobs.finish(training.id, "Completed", result={"model": "churn:3"})
    transform = ws.jobs.create("transform", {"model": "churn:3"})
    ws.jobs.finish(
        transform.id, "Completed", result={"output": LONG_PATH, "rows": 42000, "seconds": 1.5}
    )
    ws.close()
    return training.id, transform.id


def test_piped_tables_print_ids_paths_and_numbers_whole_at_a_narrow_width(tmp_path):
    training, transform = _workspace_with_jobs(tmp_path / "ws")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
    env["COLUMNS"] = "30"  # rich would fit the table into 30 columns, cutting every id
    printed = {}
    for args in (["jobs", "list"], ["jobs", "show", transform]):
        result = subprocess.run(
            [sys.executable, "-m", "kiln", "--home", str(tmp_path / "ws"), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert "…" not in result.stdout
        words = re.split(r"[\s()│┃]+", result.stdout)
        assert transform in words and LONG_PATH in words and "42000" in words
        printed[args[1]] = result.stdout
    listed = printed["list"]
    # One line per job, for grep and cut; no padding after the last column.
    assert [line for line in listed.splitlines() if training in line][0].count("churn:3") == 1
    assert all(line == line.rstrip() for line in listed.splitlines())


def test_a_narrow_terminal_wraps_the_words_of_text_never_an_id(monkeypatch):
    out = io.StringIO()
    terminal = Console(file=out, width=30, force_terminal=True, color_system=None)
    monkeypatch.setattr(_common, "console", terminal)
    reason = "the job's process was killed by the out-of-memory killer while it fit"
    _common.table("Jobs", ["job", "result"], [["train-cd481d5a9b12", f"{LONG_PATH} ({reason})"]])
    text = out.getvalue()
    assert "train-cd481d5a9b12" in text and LONG_PATH in text and "…" not in text
    assert len(text.splitlines()) > 5  # the reason wrapped, line by line


def _commands(command: click.Command, path: tuple[str, ...] = ()):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def _every_command():
    from kiln.cli._root import app

    return list(_commands(typer.main.get_command(app)))


@pytest.mark.parametrize("path", [p for p, _ in _every_command()], ids=" ".join)
def test_help_shows_flags_as_flags(path, capsys):
    from kiln.cli import main

    assert main([*path, "--help"]) == 0
    text = capsys.readouterr().out
    assert "--help" in text
    assert not re.search(r"<bool>|BOOLEAN", text), text


def test_every_command_summary_is_one_line():
    """The summary (the help's first paragraph) is what a group's command list prints: a line
    break in it shows as a break mid-sentence there."""
    for path, command in _every_command():
        summary = (command.help or "").strip().split("\n\n")[0]
        assert summary, f"kiln {' '.join(path)} has no summary"
        assert "\n" not in summary, f"kiln {' '.join(path)}: {summary!r}"


def test_piped_lines_are_not_wrapped(capsys):
    line = "Batch transform wrote 42000 predictions to " + LONG_PATH + " in 1.5 s."
    _common.console.print(line)
    assert capsys.readouterr().out == line + "\n"


def test_the_quickstart_help_and_the_readme_give_the_same_time():
    from kiln.cli._root import quickstart

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    in_help = re.search(r"in (about [^.]+)\.", quickstart.__doc__).group(1)
    in_readme = re.search(r"make quickstart.*? in (about [^.]+)\.", readme, re.S).group(1)
    assert in_help == in_readme


def test_hyperparameters_print_integers_whole_and_floats_to_four_digits():
    values = {"max_depth": 4, "lr": 0.0123456789, "reg": 12345.678, "on": True, "penalty": "l2"}
    assert _common.format_hyperparameters(values) == (
        "max_depth=4, lr=0.01235, reg=12346, on=true, penalty=l2"
    )
    assert _common.format_hyperparameters({}) == "(defaults)"


def test_models_show_prints_hyperparameters_as_name_value(trained, capsys):
    from kiln.cli import main

    workspace, result = trained
    assert main(["--home", str(workspace.home), "models", "show", result.model.ref]) == 0
    out = capsys.readouterr().out
    assert "n_estimators=60" in out and "{'" not in out


def test_data_list_prints_a_version_s_source_whole(ws, tmp_path, capsys):
    from kiln.cli import main

    path = tmp_path / "d.csv"
    path.write_text("x,y\n" + "".join(f"{i},{i % 2}\n" for i in range(40)))
    ws.data.ingest(path, name="d")
    ws.data.split("d", target="y", seed=1)
    assert main(["--home", str(ws.home), "data", "list"]) == 0
    out = capsys.readouterr().out
    assert "part=validation" in out and "part=train" in out
