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
run; a page whose blocks are meant to run joins by being added to ``PAGES``.
"""

from __future__ import annotations

import contextlib
import os
import re
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
    (folder / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
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
