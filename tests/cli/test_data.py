"""``kiln data ingest`` and ``kiln data query`` through the real CLI: exit codes and options."""

from __future__ import annotations

import json


def _workspace(tmp_path):
    import kiln

    return kiln.Workspace.init(tmp_path / "ws")


def test_ingest_refuses_a_lost_tail_with_exit_2_and_writes_nothing(tmp_path, run_cli):
    workspace = _workspace(tmp_path)
    lines = ["id,name,note"] + [f"{i},n{i},note {i}" for i in range(1, 1001)]
    lines[11] = '11,n11,"unterminated'  # row 11, line 12
    path = tmp_path / "quote.csv"
    path.write_text("\n".join(lines) + "\n")
    result = run_cli("data", "ingest", str(path), "--name", "quote", home=workspace.home)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "data.broken-rows" in result.stderr and "line 12" in result.stderr
    assert workspace.data.list() == []
    assert not [p for p in (workspace.home / "artifacts").rglob("*") if p.is_file()]
    workspace.close()


def test_ingest_encoding_option(tmp_path, run_cli):
    workspace = _workspace(tmp_path)
    path = tmp_path / "latin1.csv"
    path.write_bytes("name,city\nJosé,Málaga\nAnn,Oslo\n".encode("latin-1"))
    refused = run_cli("data", "ingest", str(path), "--name", "people", home=workspace.home)
    assert refused.returncode == 2
    assert "data.bad-encoding" in refused.stderr and "line 2" in refused.stderr
    assert "--encoding cp1252" in refused.stderr
    ingested = run_cli(
        "data",
        "ingest",
        str(path),
        "--name",
        "people",
        "--encoding",
        "latin-1",
        "--json",
        home=workspace.home,
        check=True,
    )
    assert json.loads(ingested.stdout)["row_count"] == 2
    assert workspace.data.load("people").to_dict("records")[0] == {"name": "José", "city": "Málaga"}
    workspace.close()


def test_keyword_name_is_refused_with_a_suggestion(tmp_path, run_cli):
    workspace = _workspace(tmp_path)
    path = tmp_path / "d.csv"
    path.write_text("a\n1\n")
    result = run_cli("data", "ingest", str(path), "--name", "select", home=workspace.home)
    assert result.returncode == 2
    assert "name.sql-keyword" in result.stderr and "select_data" in result.stderr
    workspace.close()


def test_query_rewrites_identifiers_only_and_the_local_user_reads_files(tmp_path, run_cli):
    workspace = _workspace(tmp_path)
    path = tmp_path / "d.csv"
    path.write_text("a\n1\n2\n")
    workspace.data.ingest(path, name="d")
    workspace.close()
    sql = f"SELECT 'd@1' AS s, count(*) AS n FROM d@1 JOIN read_csv('{path}') AS f USING (a)"
    result = run_cli("data", "query", sql, "--json", home=workspace.home, check=True)
    # The CLI is the local user's own: the file is read, as docs/data.md says.
    assert json.loads(result.stdout) == [{"s": "d@1", "n": 2}]
    closed = run_cli("data", "query", sql, "--no-external-access", home=workspace.home)
    assert closed.returncode == 2 and "data.external-access" in closed.stderr
