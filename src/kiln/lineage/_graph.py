"""The lineage graph: nodes (records), edges (what was made from what), and its three views."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LineageEdge", "LineageGraph", "LineageNode"]

# The order the lifecycle runs in, and each kind's colour in the HTML graph.
KIND_TITLES = {
    "dataset_version": "data set version",
    "job": "job",
    "model_version": "model version",
    "approval": "approval",
    "deployment": "deployment",
    "endpoint": "endpoint",
    "capture": "captured predictions",
    "inference": "inference",
}
_COLOURS = {
    "dataset_version": "#dbeafe",
    "job": "#fef3c7",
    "model_version": "#dcfce7",
    "approval": "#ede9fe",
    "deployment": "#fce7f3",
    "endpoint": "#ffedd5",
    "capture": "#e0f2fe",
    "inference": "#f1f5f9",
}


@dataclass(frozen=True)
class LineageNode:
    """One record in the graph: its kind, id, a label a person reads and a few facts."""

    kind: str
    id: str
    label: str
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"

    def describe(self) -> str:
        """``model version churn:1 (Approved, lightgbm, roc_auc=0.91)``."""
        shown = ", ".join(
            f"{k}={v}" if k not in ("status", "approval_status", "algorithm") else str(v)
            for k, v in self.facts.items()
            if v not in (None, "", {}) and k not in ("created_at", "reason")
        )
        return f"{KIND_TITLES.get(self.kind, self.kind)} {self.label}" + (
            f" ({shown})" if shown else ""
        )

    def to_dict(self) -> dict:
        return {"key": self.key, "kind": self.kind, "id": self.id, "label": self.label} | {
            "facts": self.facts
        }


@dataclass(frozen=True)
class LineageEdge:
    """``source`` was used to make ``target`` (node keys); ``relation`` says how."""

    source: str
    target: str
    relation: str

    def to_dict(self) -> dict:
        return {"source": self.source, "target": self.target, "relation": self.relation}


@dataclass(frozen=True)
class LineageGraph:
    """What an entity came from (upstream) and what came from it (downstream).

    ``root`` is the key of the entity asked about; ``levels`` each node's signed distance from
    it (negative upstream), which is how the tree and the HTML graph lay it out.
    """

    root: str
    nodes: dict[str, LineageNode]
    edges: list[LineageEdge]
    levels: dict[str, int]

    @property
    def entity(self) -> LineageNode:
        return self.nodes[self.root]

    def upstream(self, key: str) -> list[tuple[LineageNode, str]]:
        """The nodes ``key`` was made from, with each edge's relation."""
        return [(self.nodes[e.source], e.relation) for e in self.edges if e.target == key]

    def downstream(self, key: str) -> list[tuple[LineageNode, str]]:
        """The nodes made from ``key``, with each edge's relation."""
        return [(self.nodes[e.target], e.relation) for e in self.edges if e.source == key]

    def to_dict(self) -> dict:
        return {
            "entity": self.entity.to_dict(),
            "nodes": [
                n.to_dict() | {"level": self.levels[k]}
                for k, n in sorted(self.nodes.items(), key=lambda item: self.levels[item[0]])
            ],
            "edges": [e.to_dict() for e in self.edges],
        }

    # -- the terminal view ---------------------------------------------------------------------
    def tree(self):
        """A rich Tree: the entity, then what it came from and what came from it. A node
        reached a second time is named, not expanded again."""
        from rich.markup import escape
        from rich.tree import Tree

        root = Tree(f"[bold]{escape(self.entity.describe())}[/bold]")
        for title, step, sign in (
            ("upstream (made from)", self.upstream, -1),
            ("downstream (made from it)", self.downstream, 1),
        ):
            first = step(self.root)
            if not first:
                continue
            branch = root.add(f"[dim]{title}[/dim]")
            shown: set[str] = {self.root}
            # Depth first, in the order the tree prints: a node met again is "shown above".
            pending = [(branch, node, relation) for node, relation in reversed(first)]
            while pending:
                parent, node, relation = pending.pop()
                if self.levels.get(node.key, 0) * sign <= 0:
                    continue  # reached the other side (a retraining loop): not this branch's
                repeat = node.key in shown
                text = f"[cyan]{escape(relation)}[/cyan] {escape(node.describe())}"
                child = parent.add(text + (" [dim](shown above)[/dim]" if repeat else ""))
                if not repeat:
                    shown.add(node.key)
                    pending += [(child, n, r) for n, r in reversed(step(node.key))]
        return root

    # -- the HTML view --------------------------------------------------------------------------
    def html(self) -> str:
        """A self-contained page: the graph as an SVG, laid out in columns by distance from
        the entity, and every node's facts in a table. It opens offline."""
        from kiln.reports import Section, render, table

        rows = [
            [KIND_TITLES.get(n.kind, n.kind), n.label, n.id, _facts_text(n.facts)]
            for n in sorted(self.nodes.values(), key=lambda n: self.levels[n.key])
        ]
        return render(
            f"Lineage of {KIND_TITLES.get(self.entity.kind, self.entity.kind)} {self.entity.label}",
            [
                Section("Graph", self._svg()),
                Section("Records", table(["kind", "record", "id", "facts"], rows)),
            ],
            subtitle=f"{len(self.nodes)} records, {len(self.edges)} edges",
            plotly_bundle=None,
        )

    def _svg(self) -> str:
        # Written by hand: plotly (the one drawing library kiln bundles) has no graph layout, and
        # a lineage graph is a few dozen boxes in columns (one per distance from the entity), which
        # plain SVG draws offline with no script at all.
        width, height, gap_x, gap_y, pad = 230, 58, 70, 18, 10
        # Columns start at the distance from the entity, then each target moves right of its
        # sources (a longest-path layering, so every edge points right; the rounds are bounded,
        # as a retraining loop makes a cycle).
        layer = dict(self.levels)
        for _ in range(len(self.nodes)):
            moved = False
            for edge in self.edges:
                if layer[edge.target] <= layer[edge.source]:
                    layer[edge.target] = layer[edge.source] + 1
                    moved = True
            if not moved:
                break
        columns: dict[int, list[str]] = {}
        for key in sorted(self.nodes, key=lambda k: (layer[k], self.nodes[k].kind, k)):
            columns.setdefault(layer[key], []).append(key)
        first = min(columns)
        place = {}
        for level, keys in columns.items():
            for row, key in enumerate(keys):
                place[key] = (
                    pad + (level - first) * (width + gap_x),
                    pad + row * (height + gap_y),
                )
        total_w = pad * 2 + len(columns) * (width + gap_x) - gap_x
        total_h = pad * 2 + max(len(k) for k in columns.values()) * (height + gap_y) - gap_y
        parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" width="{total_w}" '
            f'height="{total_h}" viewBox="0 0 {total_w} {total_h}" font-size="12" '
            'font-family="system-ui, sans-serif">',
            '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
            'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#7b8794"/>'
            "</marker></defs>",
        ]
        for edge in self.edges:
            (x1, y1), (x2, y2) = place[edge.source], place[edge.target]
            x1, y1, y2 = x1 + width, y1 + height / 2, y2 + height / 2
            middle = (x1 + x2) / 2
            parts.append(
                f'<path class="edge" d="M{x1},{y1} C{middle},{y1} {middle},{y2} {x2},{y2}" '
                'fill="none" stroke="#7b8794" marker-end="url(#arrow)">'
                f"<title>{html.escape(edge.relation)}</title></path>"
            )
        for key, node in self.nodes.items():
            x, y = place[key]
            stroke = ' stroke="#1f2933" stroke-width="2"' if key == self.root else ""
            parts.append(
                f'<g class="node" data-key="{html.escape(key)}">'
                f"<title>{html.escape(node.id)}\n{html.escape(_facts_text(node.facts))}</title>"
                f'<rect x="{x}" y="{y}" width="{width}" height="{height}" rx="6" '
                f'fill="{_COLOURS.get(node.kind, "#eee")}"{stroke}/>'
                f'<text x="{x + 8}" y="{y + 17}" fill="#52606d">'
                f"{html.escape(KIND_TITLES.get(node.kind, node.kind))}</text>"
                f'<text x="{x + 8}" y="{y + 34}" font-weight="600">'
                f"{html.escape(_clip(node.label, 30))}</text>"
                f'<text x="{x + 8}" y="{y + 50}" fill="#52606d">'
                f"{html.escape(_clip(_facts_text(node.facts, brief=True), 34))}</text></g>"
            )
        parts.append("</svg>")
        return '<div style="overflow-x: auto">' + "".join(parts) + "</div>"


def _facts_text(facts: dict, *, brief: bool = False) -> str:
    shown = {k: v for k, v in facts.items() if v not in (None, "", {})}
    if brief:
        shown.pop("created_at", None)
        shown.pop("reason", None)
    return ", ".join(f"{k}: {v}" for k, v in shown.items())


def _clip(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"
