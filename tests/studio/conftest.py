"""Studio test fixtures: a real Studio server on loopback for a test's workspace, signed-in API
clients for each role, and Debian's Chromium driven by Playwright (one browser per pytest
worker, a fresh context per test) that records console errors and writes screenshots.

Chromium is Debian's (/usr/bin/chromium; ``make test`` installs it as root when missing):
Playwright's own browser download is never used. Without it the browser tests skip with one
line, which CI (KILN_REQUIRE_SERVICES=1) turns into a failure."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import threading
from pathlib import Path

import httpx
import pytest

from helpers import free_port, prompt_server, wait_until_started
from kiln.users import _users

ROOT = Path(__file__).resolve().parents[2]
# Screenshots of each page, kept as test artifacts (gitignored).
ARTIFACTS = Path(os.environ.get("KILN_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "studio"
CHROMIUM = os.environ.get("KILN_CHROMIUM", "/usr/bin/chromium")
# The probe's flags: no sandbox (root), and no background calls to Google's hosts, which this
# machine's closed network refuses many at a time.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
ROLES = ("annotator", "viewer", "scientist", "approver", "admin")


class StudioServer:
    """``kiln ui`` for a workspace, in a thread of the test's process, on a free port."""

    def __init__(self, workspace):
        from kiln.studio import studio_config

        self.workspace = workspace
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = prompt_server(
            studio_config(workspace, host="127.0.0.1", port=self.port, log_level="warning")
        )

    def __enter__(self) -> StudioServer:
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_until_started(self.server, self.thread, "the Studio server")
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def login_url(self, user: str) -> str:
        """A one-time link that signs ``user`` in (what ``kiln ui`` prints)."""
        token = self.workspace.users.login_link_token(user).token
        return f"{self.url}/api/session/link?token={token}"


_password_hash = functools.cache(_users.hash_password)


@pytest.fixture
def users(ws, monkeypatch) -> dict[str, str]:
    """One user of each role (named after it), with an API token each: ``{role: token}``.

    The four passwords are hashed once per pytest worker, not once per test: scrypt costs
    ~60 ms a hash by design, and a hundred tests make these same four users."""
    original = _users.hash_password
    monkeypatch.setattr(
        _users,
        "hash_password",
        lambda password: (
            _password_hash(password) if password.endswith("-password") else original(password)
        ),
    )
    tokens = {}
    for role in ROLES:
        ws.users.add(role, role=role, password=f"{role}-password")
        tokens[role] = ws.users.create_token(role).token
    return tokens


@pytest.fixture
def studio(ws, users):
    """A running Studio server on ``ws``, with the ``users`` fixture's users."""
    with StudioServer(ws) as server:
        yield server


@pytest.fixture
def api_as(studio, users):
    """``api_as(role)``: an httpx client signed in with that role's token."""
    clients = []

    def client(role: str) -> httpx.Client:
        made = httpx.Client(
            base_url=f"{studio.url}/api",
            headers={"authorization": f"Bearer {users[role]}"},
            timeout=60,
        )
        clients.append(made)
        return made

    yield client
    for made in clients:
        made.close()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium under Playwright, one per pytest worker."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium (make test does it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed: pip install -e '.[dev]'")
    playwright = sync_playwright().start()
    try:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
    except Exception as exc:  # a browser that cannot start: say why, in one line
        playwright.stop()
        pytest.skip(f"Chromium at {CHROMIUM} did not start: {str(exc).splitlines()[0]}")
    yield launched
    launched.close()
    playwright.stop()


class Page:
    """A browser tab on Studio that remembers the console errors and failed requests it saw."""

    def __init__(self, page, studio: StudioServer, name: str):
        self.page = page
        self.studio = studio
        self.name = name
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))

    def _console(self, message) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def __getattr__(self, name):
        return getattr(self.page, name)

    def sign_in(self, user: str, path: str = "/") -> None:
        """Sign in as ``user`` through a login link, then open ``path`` (``#/jobs``)."""
        self.page.goto(self.studio.login_url(user))
        self.page.wait_for_selector("body[data-ready=signed-in]")
        if path != "/":
            self.open(path)

    def open(self, path: str) -> None:
        """Open a Studio route (``/jobs/ID``) and wait until its page has rendered."""
        self.page.goto(f"{self.studio.url}/#{path}")
        self.page.wait_for_selector("main > :not(p.muted)")

    def screenshot_as(self, label: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', self.name)}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def assert_no_errors(self, *allowed: str) -> None:
        """No console error or uncaught exception, but those matching an ``allowed`` pattern
        (an expected 403 logs 'Failed to load resource: ... 403')."""
        unexpected = [e for e in self.errors if not any(re.search(a, e) for a in allowed)]
        assert not unexpected, "\n".join(unexpected)


@pytest.fixture
def page(browser, studio, request):
    """A fresh browser context on the ``studio`` server; screenshots on failure too."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_timeout(20_000)
    tab = Page(context.new_page(), studio, request.node.name)
    yield tab
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        # The page may be gone; the failure itself is what matters.
        with contextlib.suppress(Exception):
            tab.screenshot_as("failed")
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report


@pytest.fixture(scope="session")
def experimented(tmp_path_factory):
    """Churn ingested and two runs of experiment 'baseline' (linear, LightGBM): built once per
    worker, read-only; tests take ``experimented_copy``."""
    import kiln
    from conftest import CHURN_CSV

    ws = kiln.Workspace.init(tmp_path_factory.mktemp("experimented") / "ws")
    ws.data.ingest(CHURN_CSV, name="churn")
    for algorithm, hp in (("linear", None), ("lightgbm", {"n_estimators": 20})):
        ws.train(
            "churn", target="churn", algorithm=algorithm, experiment="baseline", hyperparameters=hp
        )
    yield ws
    ws.close()


@pytest.fixture
def experimented_copy(experimented, tmp_path):
    """A private copy of ``experimented``, for a test to change."""
    from conftest import copy_workspace

    ws = copy_workspace(experimented, tmp_path / "experimented")
    yield ws
    ws.close()
