"""The lineage graph reads the edges around the nodes it reaches, by their indexed ids."""

from __future__ import annotations


def test_a_graph_reads_the_edges_around_its_nodes_not_the_whole_table(ws):
    """A data set version's page asks for its graph: in a workspace of 100,000 jobs it must not
    read every lineage edge (1 s over 20,000 of them)."""
    import pandas as pd
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from kiln.store import LineageRow, now

    made = ws.data.ingest(pd.DataFrame({"x": [1, 2, 3]}), name="small")
    with ws.store.write() as session:
        session.add_all(
            LineageRow(
                source_kind="dataset_version",
                source_id=f"ds-other{i}",
                target_kind="job",
                target_id=f"train-other{i}",
                relation="input",
                created_at=now(),
            )
            for i in range(200)
        )
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        graph = ws.lineage.graph(f"data:{made.ref}")
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    assert graph.entity.label == "small:1" and graph.edges == []
    edge_reads = [s for s in statements if "FROM lineage" in s]
    assert edge_reads and all("WHERE lineage." in s for s in edge_reads), edge_reads
