"""The README's snippets run as written.

Every fenced ```python, ```bash, ```shell and ```console block of the pages in ``PAGES`` runs, in
page order, in one fresh folder that looks like a fresh clone to the snippets: the example data
copied in, ``.venv`` linking to the environment running the tests, no ``KILN_*`` variables (so
``kiln init`` and ``kiln.Workspace.init()`` make ``.kiln`` there). Shell blocks run through
``bash`` with ``set -e``; Python blocks run as scripts. A block that must not run carries an
HTML comment ``<!-- not-run: reason -->`` on the line above its fence.

Two things are adapted, not rewritten: port 8080 becomes a free port (the suite runs in
parallel), and after a line that starts ``kiln serve`` in the background the script waits for
the server to answer ``/ping`` before the next line, as a reader would. The server is stopped
when its block ends.

The pages of docs/ are references: their blocks are synopses with placeholders
(``kiln data profile NAME[:VERSION]``) and fragments that continue one another, so they are not
run; a page whose blocks are meant to run joins by being added to ``PAGES``. What every page's
blocks name is checked instead (fast, no run): each ``kiln`` subcommand and option, synopsis
brackets included, exists in the CLI; each file under examples/ or benchmarks/ exists; each
Python block parses and its imports succeed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import free_port

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["README.md"]
LANGUAGES = {"python": "python", "bash": "shell", "shell": "shell", "console": "console"}
PER_BLOCK_TIMEOUT = 300

_FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
_NOT_RUN = re.compile(r"<!--\s*not-run:(.*?)-->\s*$", re.S)
_SERVE_IN_BACKGROUND = re.compile(r"^\s*kiln\s+(--home\s+\S+\s+)?serve\b.*&\s*(#.*)?$")


@dataclass(frozen=True)
class Snippet:
    """One fenced block of a page: where it is, how it runs, and why not when it does not."""

    page: str
    line: int
    kind: str  # python, shell or console
    code: str
    not_run: str | None = None

    def __str__(self) -> str:
        return f"{self.page}:{self.line} ({self.kind})"


def snippets(text: str, page: str = "<text>") -> list[Snippet]:
    """The runnable blocks of a Markdown page, in order; blocks in other languages are left out.

    A block right below ``<!-- not-run: reason -->`` (blank lines between allowed) is returned
    with ``not_run`` set to the reason; a marker with no reason is an error."""
    found = []
    for match in _FENCE.finditer(text):
        kind = LANGUAGES.get(match.group(1).lower())
        if kind is None:
            continue
        before = text[: match.start()].rstrip()
        marker = _NOT_RUN.search(before)
        reason = None
        if marker and before.endswith(marker.group(0).rstrip()):
            reason = marker.group(1).strip()
            if not reason:
                raise ValueError(f"{page}: a not-run marker must say why the block does not run.")
        line = text.count("\n", 0, match.start()) + 1
        found.append(Snippet(page, line, kind, match.group(2), reason))
    return found


def shell_script(snippet: Snippet, port: int) -> str:
    """The bash script of a shell or console block, as the test runs it (see the module doc)."""
    lines = snippet.code.splitlines()
    if snippet.kind == "console":  # commands after "$ ", their continuation lines, no output
        commands, continuing = [], False
        for line in lines:
            if line.startswith("$ ") or continuing:
                commands.append(line[2:] if line.startswith("$ ") and not continuing else line)
                continuing = line.rstrip().endswith("\\")
        lines = commands
    body = []
    for line in lines:
        line = re.sub(r"\b8080\b", str(port), line)
        body.append(line)
        if _SERVE_IN_BACKGROUND.match(line):
            body.append(f"_wait_for_server {port}")
    return "\n".join(
        [
            "set -e",
            "trap 'kill $(jobs -p) 2>/dev/null || true; wait' EXIT",
            "_wait_for_server() {",
            "  for _ in $(seq 1200); do",
            '    curl -s -o /dev/null "http://127.0.0.1:$1/ping" && return 0',
            "    sleep 0.1",
            "  done",
            '  echo "kiln serve did not answer on port $1 within 120 s" >&2; return 1',
            "}",
            *body,
            "",
        ]
    )


def fresh_clone(folder: Path) -> Path:
    """A folder where the snippets see what a fresh clone has: examples/ and .venv."""
    folder.mkdir()
    shutil.copytree(ROOT / "examples", folder / "examples")
    if (Path(sys.prefix) / "bin" / "activate").exists():  # the tests run in a virtualenv
        (folder / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    else:  # an environment without one: 'source .venv/bin/activate' puts its bin first
        (folder / ".venv" / "bin").mkdir(parents=True)
        activate = f'export PATH="{Path(sys.executable).parent}:$PATH"\n'
        (folder / ".venv" / "bin" / "activate").write_text(activate)
    return folder


def run(snippet: Snippet, folder: Path, index: int) -> subprocess.CompletedProcess:
    """Run one block in ``folder``; its process group is ended whatever happens."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "120"
    if snippet.kind == "python":
        script = folder / f".snippet_{index}.py"
        script.write_text(snippet.code)
        command = [sys.executable, script.name]
    else:
        script = folder / f".snippet_{index}.sh"
        script.write_text(shell_script(snippet, free_port()))
        command = ["bash", script.name]
    process = subprocess.Popen(
        command,
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=PER_BLOCK_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        output += f"\n[timed out after {PER_BLOCK_TIMEOUT} s]"
    finally:
        with contextlib.suppress(ProcessLookupError):  # what the block left in the background
            os.killpg(process.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(command, process.returncode, output)


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_every_snippet_runs_as_written(page, tmp_path):
    folder = fresh_clone(tmp_path / "clone")
    blocks = [s for s in snippets((ROOT / page).read_text("utf-8"), page) if not s.not_run]
    assert blocks, f"{page} has no runnable block"
    for index, snippet in enumerate(blocks):
        result = run(snippet, folder, index)
        if result.returncode != 0:
            tail = result.stdout[-6000:]
            pytest.fail(
                f"The block at {snippet} exited {result.returncode}.\n"
                f"--- block ---\n{snippet.code}--- output (last 6,000 characters) ---\n{tail}",
                pytrace=False,
            )


PAGE = """\
Intro.

```bash
kiln init
```

<!-- not-run: needs a GPU -->

```python
import torch
```

```yaml
steps: []
```

```console
$ kiln serve --port 8080 &
Serving on http://127.0.0.1:8080
$ curl -s localhost:8080/ping \\
    -H 'accept: application/json'
```
"""


def test_snippets_are_found_in_order_with_their_not_run_reason():
    found = snippets(PAGE, "page.md")
    assert [(s.kind, s.line, s.not_run) for s in found] == [
        ("shell", 3, None),
        ("python", 9, "needs a GPU"),
        ("console", 17, None),
    ]


def test_a_not_run_marker_needs_a_reason():
    with pytest.raises(ValueError, match="must say why"):
        snippets("<!-- not-run: -->\n```bash\nmake test\n```\n")


def test_a_console_block_runs_its_commands_with_the_test_port_and_waits_for_the_server():
    script = shell_script(snippets(PAGE)[2], port=5123)
    commands = script.split("}\n", 1)[1].splitlines()
    assert commands == [
        "kiln serve --port 5123 &",
        "_wait_for_server 5123",
        "curl -s localhost:5123/ping \\",
        "    -H 'accept: application/json'",
    ]
    assert script.startswith("set -e\n")


def test_a_failing_shell_block_fails_with_its_output(tmp_path):
    snippet = Snippet("page.md", 1, "shell", "echo before\nfalse\necho after\n")
    result = run(snippet, fresh_clone(tmp_path / "clone"), 0)
    assert result.returncode != 0
    assert "before" in result.stdout and "after" not in result.stdout


# -- every page's snippets name real commands, options, files and imports -------------------------
#
# The blocks of docs/ are not run (see the module docstring), but what they name must exist: a
# renamed option or module would leave them stale without any run failing.

ALL_PAGES = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
# Files of the repository a snippet reads (benchmarks/out/ holds what benchmarks write).
_REPO_PATH = re.compile(r"(?<![\w/.])(examples/[\w./-]+\.\w+|benchmarks/[\w-]+\.py)")


def kiln_commands(snippet: Snippet) -> list[list[str]]:
    """The words of each ``kiln ...`` command of a shell block: continuation lines joined (a
    trailing backslash, or an indented line of a synopsis), comments left out, and commands
    inside pipes, ``$(...)``, ``&&`` and ``;`` found. Synopsis brackets (``[--json]``) and
    ellipses are dropped, so optional parts are checked too."""
    lines: list[str] = []
    for line in snippet.code.splitlines():
        text = re.sub(r"(^|\s)#.*", "", line).rstrip()
        if lines and (lines[-1].endswith("\\") or (line[:1].isspace() and text.strip())):
            lines[-1] = lines[-1].rstrip("\\") + " " + text.strip()
        else:
            lines.append(text)
    commands = []
    for line in lines:
        lexer = shlex.shlex(
            line.replace("[", " ").replace("]", " ").replace("...", " "),
            posix=True,
            punctuation_chars="|&;()",
        )
        lexer.whitespace_split = True
        words: list[str] = []
        for token in [*lexer, ";"]:
            if token and set(token) <= set("|&;()"):
                if words[:1] == ["kiln"]:
                    commands.append(words)
                words = []
            else:
                words.append(token)
    return commands


def unknown_names(words: list[str]) -> list[str]:
    """The subcommands and options of a ``kiln`` command (its words) that the CLI lacks."""
    import typer.main

    from kiln.cli._root import app

    current = typer.main.get_command(app)
    wrong, takes_value = [], False
    for word in words[1:]:
        if takes_value:
            takes_value = False
        elif word.startswith("-"):
            name = word.split("=", 1)[0]
            option = next((p for p in current.params if name in (*p.opts, *p.secondary_opts)), None)
            if option is None:
                wrong.append(f"{current.name} {name}")
            takes_value = option is not None and not option.is_flag and "=" not in word
        elif hasattr(current, "commands"):  # a group: the word names a subcommand
            if word not in current.commands:
                wrong.append(f"{current.name} {word}")
                break
            current = current.commands[word]
    return wrong


@pytest.mark.parametrize("page", ALL_PAGES)
def test_every_snippet_names_real_commands_options_files_and_imports(page):
    import ast

    problems = []
    for snippet in snippets((ROOT / page).read_text("utf-8"), page):
        for path in _REPO_PATH.findall(snippet.code):
            if not (ROOT / path).exists():
                problems.append(f"{snippet}: no file {path}")
        if snippet.kind == "python":
            try:
                tree = ast.parse(snippet.code)
            except SyntaxError as exc:
                problems.append(f"{snippet}: not Python ({exc})")
                continue
            imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
            for node in imports:
                try:
                    exec(compile(ast.Module([node], []), page, "exec"), {})
                except ImportError as exc:
                    problems.append(f"{snippet}: {ast.unparse(node)} fails: {exc}")
        else:
            for words in kiln_commands(snippet):
                command = " ".join(words)
                problems += [f"{snippet}: {command!r}: no {n}" for n in unknown_names(words)]
    assert not problems, "\n".join(problems)


def test_a_stale_option_command_or_file_is_found():
    block = Snippet(
        "page.md",
        1,
        "shell",
        "kiln jobs report ID [--out x.html] [--learning-curves]\n"
        "kiln --home /data/ml init \\\n  --json\n"
        "kiln models retire churn:1   # gone\n"
        'X=$(kiln jobs list --json | python -c "print(1)") && kiln data query "SELECT count(*)"\n'
        "kiln data profile NAME [--target COLUMN]\n"
        "                  [--refresh] [--sampled]\n",
    )
    commands = kiln_commands(block)
    assert [unknown_names(c) for c in commands] == [
        ["report --learning-curves"],
        [],
        ["models retire"],
        [],
        [],
        ["profile --sampled"],
    ]
    assert _REPO_PATH.findall("kiln data ingest examples/churn/telco.csv --name x") == [
        "examples/churn/telco.csv"
    ]
