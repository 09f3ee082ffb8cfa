"""``kiln quickstart``: the whole lifecycle, and it says where it served."""

from __future__ import annotations

import io

from rich.console import Console

from conftest import CHURN_CSV
from helpers import free_port


def test_the_quickstart_names_the_port_and_url_it_served_on(tmp_path):
    from kiln.quickstart import run_quickstart

    port = free_port()
    printed = io.StringIO()
    said: list[str] = []
    summary = run_quickstart(
        home=tmp_path / "ws",
        data=CHURN_CSV,
        port=port,
        say=said.append,
        console=Console(file=printed, width=300),
    )
    url = f"http://127.0.0.1:{port}"
    assert summary["url"] == url
    assert f"on port {port}" in printed.getvalue()
    assert f"{url}/endpoints/churn/invocations" in printed.getvalue()
