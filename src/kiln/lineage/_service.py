"""``ctx.lineage``: the graph of what every record was made from, over the whole lifecycle.

Edges come from two places. The ``lineage`` table holds what jobs and the data catalog link
(data set version → job, job → model version, job → data set version, endpoint → captured data
set version). The rest are read from the records that already hold them, in the transaction that
made them, rather than copied into the ``lineage`` table where they could drift from the record
(and would be missing for workspaces made before): an approval decision (``model_approval_events``),
a deployment (each endpoint revision in ``deployments``, with the guarded deployment job that
made it and the approval in effect when it was made) and the captured predictions of an endpoint
(its capture files, read when the endpoint is in the graph; an inference id is found there and
resolved to its endpoint, variant and model version).
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from kiln.data import capture_records
from kiln.errors import ConfigError, KilnError, NotFound
from kiln.lineage._graph import LineageEdge, LineageGraph, LineageNode
from kiln.problems import PRIMARY_METRIC
from kiln.refs import parse_model_ref, parse_ref
from kiln.store import (
    DatasetVersionRow,
    DeploymentRow,
    EndpointRow,
    ExperimentRow,
    JobRow,
    LineageRow,
    ModelApprovalEventRow,
    ModelGroupRow,
    ModelVersionRow,
    ProblemRow,
    like_pattern,
)

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["LineageService"]

APPROVED = "Approved"
# What a user may write before an entity to say which kind it is (``data:churn:1``).
PREFIXES = {
    "data": "dataset_version",
    "dataset": "dataset_version",
    "model": "model_version",
    "job": "job",
    "endpoint": "endpoint",
    "inference": "inference",
}
_INFERENCE_ID = re.compile(r"^[0-9a-f]{32}$")


class LineageService:
    """``ws.lineage``: the lineage graph of a data set version, job, model version, endpoint or
    inference id."""

    def __init__(self, workspace: Context):
        self._ws = workspace

    def graph(
        self,
        entity: str,
        *,
        upstream: bool = True,
        downstream: bool = True,
        depth: int | None = None,
    ) -> LineageGraph:
        """What ``entity`` was made from and what was made from it.

        Parameters
        ----------
        entity
            A data set version (``churn:1``), a model version (``churn:2``, ``churn@production``),
            a job id, an endpoint name or an inference id. When a reference names more than one
            kind of record, say which with a prefix: ``data:churn:1``, ``model:churn:1``.
        upstream, downstream
            Follow the edges toward what the entity came from, and toward what came from it.
        depth
            At most this many edges away from the entity (all of them when None).

        Examples
        --------
        >>> ws.lineage.graph("churn:1", downstream=False).to_dict()   # doctest: +SKIP
        """
        if depth is not None and (not isinstance(depth, int) or depth < 0):
            raise ConfigError(
                f"The lineage depth must be a whole number from 0 up. Got {depth!r}.",
                code="lineage.bad-depth",
            )
        with self._ws.store.read() as session:
            root, inference = self._resolve(session, entity)
            edges = _Edges(self._ws, session)
            if inference is not None:
                edges.add_inference(root, inference)
            levels: dict[str, int] = {root: 0}
            found: list[LineageEdge] = []
            for wanted, sign in ((upstream, -1), (downstream, 1)):
                if not wanted:
                    continue
                frontier = [root]
                distance = 0
                while frontier and (depth is None or distance < depth):
                    distance += 1
                    following = []
                    for key in frontier:
                        for edge in edges.around(key, sign):
                            found.append(edge)
                            other = edge.source if sign < 0 else edge.target
                            if other not in levels:
                                levels[other] = sign * distance
                                following.append(other)
                    frontier = following
            unique = list(dict.fromkeys(found))
            nodes = {key: edges.node(key) for key in levels}
            return LineageGraph(root=root, nodes=nodes, edges=unique, levels=levels)

    def search(self, q: str, *, limit: int = 10) -> dict[str, list[dict]]:
        """Records whose name, id or reference matches ``q``, grouped by kind: ``datasets``
        (the latest version of each matching name, and a version named ``name:3`` or by id),
        ``jobs`` (an id or its start), ``model_groups``, ``model_versions`` (``group:3`` or an
        id), ``endpoints`` and ``problems`` (by name), ``experiments``. At most ``limit``
        (1–100) of each kind.

        Only indexed look-ups: a name's text over the small name tables (distinct data set
        names, model groups, endpoints, problems, experiments) and an id or id prefix on the
        primary keys, so it answers as fast with 100,000 jobs as with ten. kiln's records carry
        no tags; a problem is found by its name. An empty ``q`` is refused
        (``search.empty-query``).
        """
        text = (q or "").strip()
        if not text:
            raise ConfigError(
                "Search for something: a name, an id or its start (train-1ddd), or a "
                "reference (churn:2).",
                code="search.empty-query",
                field="q",
            )
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
            raise ConfigError(
                f"A search returns 1 to 100 records of each kind. Got limit={limit!r}.",
                code="search.bad-limit",
                field="limit",
            )
        pattern = like_pattern(text)
        prefix = _prefix_range(text)
        name, version = _split_ref(text)
        found: dict[str, list[dict]] = {}
        with self._ws.store.read() as session:
            latest = (
                select(DatasetVersionRow.name, func.max(DatasetVersionRow.version))
                .where(DatasetVersionRow.name.like(pattern, escape="\\"))
                .group_by(DatasetVersionRow.name)
                .order_by(DatasetVersionRow.name)
                .limit(limit)
            )
            datasets = [_dataset_hit(n, v) for n, v in session.execute(latest)]
            exact = select(DatasetVersionRow.name, DatasetVersionRow.version).where(
                DatasetVersionRow.id.between(*prefix)
            )
            if version is not None:
                exact = exact.union(
                    select(DatasetVersionRow.name, DatasetVersionRow.version).where(
                        DatasetVersionRow.name == name, DatasetVersionRow.version == version
                    )
                )
            datasets = [
                _dataset_hit(n, v) for n, v in session.execute(exact.limit(limit))
            ] + datasets
            found["datasets"] = list({d["ref"]: d for d in datasets}.values())[:limit]
            found["jobs"] = [
                {"id": job_id, "kind": kind, "status": status, "href": f"#/jobs/{job_id}"}
                for job_id, kind, status in session.execute(
                    select(JobRow.id, JobRow.kind, JobRow.status)
                    .where(JobRow.id.between(*prefix))
                    .order_by(JobRow.id)
                    .limit(limit)
                )
            ]
            found["model_groups"] = [
                {"name": group, "href": f"#/models/{group}"}
                for group in session.scalars(
                    select(ModelGroupRow.name)
                    .where(ModelGroupRow.name.like(pattern, escape="\\"))
                    .order_by(ModelGroupRow.name)
                    .limit(limit)
                )
            ]
            versions = select(
                ModelVersionRow.group, ModelVersionRow.version, ModelVersionRow.approval_status
            ).where(ModelVersionRow.id.between(*prefix))
            if version is not None:
                versions = versions.union(
                    select(
                        ModelVersionRow.group,
                        ModelVersionRow.version,
                        ModelVersionRow.approval_status,
                    ).where(ModelVersionRow.group == name, ModelVersionRow.version == version)
                )
            found["model_versions"] = [
                {
                    "ref": f"{group}:{number}",
                    "approval_status": status,
                    "href": f"#/models/{group}/{number}",
                }
                for group, number, status in session.execute(versions.limit(limit))
            ]
            found["endpoints"] = [
                {"name": endpoint, "href": f"#/endpoints/{endpoint}"}
                for endpoint in session.scalars(
                    select(EndpointRow.name)
                    .where(
                        EndpointRow.name.like(pattern, escape="\\")
                        | EndpointRow.id.between(*prefix)
                    )
                    .order_by(EndpointRow.name)
                    .limit(limit)
                )
            ]
            found["problems"] = [
                {"name": problem, "version": number}
                for problem, number in session.execute(
                    select(ProblemRow.name, func.max(ProblemRow.version))
                    .where(ProblemRow.name.like(pattern, escape="\\"))
                    .group_by(ProblemRow.name)
                    .order_by(ProblemRow.name)
                    .limit(limit)
                )
            ]
            found["experiments"] = [
                {"name": experiment, "href": f"#/experiments/{experiment}"}
                for experiment in session.scalars(
                    select(ExperimentRow.name)
                    .where(ExperimentRow.name.like(pattern, escape="\\"))
                    .order_by(ExperimentRow.name)
                    .limit(limit)
                )
            ]
        return found

    # -- which record the user means ---------------------------------------------------------------
    def _resolve(self, session, entity: str) -> tuple[str, dict | None]:
        """The node key of ``entity``, and the captured record when it is an inference id."""
        text = (entity or "").strip()
        kind, _, rest = text.partition(":")
        wanted = PREFIXES.get(kind) if rest else None
        text = rest if wanted else text
        kinds = [wanted] if wanted else list(dict.fromkeys(PREFIXES.values()))
        matches: dict[str, str] = {}
        inference = None
        for candidate in kinds:
            if candidate == "inference":
                if matches or not _INFERENCE_ID.match(text):
                    continue
                inference = self._find_inference(session, text)
                if inference is not None:
                    matches[candidate] = f"inference:{text}"
                continue
            key = self._lookup(session, candidate, text)
            if key is not None:
                matches[candidate] = key
        if len(matches) == 1:
            return next(iter(matches.values())), inference
        if matches:
            choices = " or ".join(
                f"'{prefix}:{text}'"
                for prefix, kind_ in PREFIXES.items()
                if kind_ in matches and prefix != "dataset"
            )
            raise ConfigError(
                f"{entity!r} names a {' and a '.join(_TITLES[k] for k in matches)}. Say which "
                f"with a prefix: {choices}.",
                code="lineage.ambiguous-entity",
            )
        tried = ", ".join(_TITLES[k] for k in kinds)
        raise NotFound(
            f"No record matches {entity!r}; tried it as: {tried}. Give a data set version "
            "('churn:1'), a model version ('churn:2', 'churn@production'), a job id ('kiln jobs "
            "list'), an endpoint name ('kiln endpoints list') or an inference id.",
            code="lineage.unknown-entity",
        )

    def _lookup(self, session, kind: str, text: str) -> str | None:
        if kind == "job":
            try:  # the jobs service also takes an id's unambiguous start (train-1ddd)
                return f"job:{self._ws.jobs.get(text).id}"
            except KilnError:
                return None
        if kind == "endpoint":
            row = session.get(EndpointRow, text) or session.scalar(
                select(EndpointRow).where(EndpointRow.name == text)
            )
            return f"endpoint:{row.id}" if row is not None else None
        if kind == "dataset_version":
            row = session.get(DatasetVersionRow, text)
            if row is None and (":" in text or "@" in text):
                try:
                    row = session.get(DatasetVersionRow, self._ws.data.get(text).id)
                except (KilnError, ValueError):
                    return None
            return f"dataset_version:{row.id}" if row is not None else None
        if kind == "model_version":
            row = session.get(ModelVersionRow, text)
            if row is None and (":" in text or "@" in text):
                try:
                    parse_model_ref(text)
                    row = session.get(ModelVersionRow, self._ws.models.get(text).id)
                except (KilnError, ValueError):
                    return None
            return f"model_version:{row.id}" if row is not None else None
        return None

    def _find_inference(self, session, inference_id: str) -> dict | None:
        for name in session.scalars(select(EndpointRow.name)).all():
            for record in capture_records(self._ws.artifacts, name):
                if record.get("inference_id") == inference_id:
                    return record
        return None


_TITLES = {
    "dataset_version": "data set version",
    "model_version": "model version",
    "job": "job id",
    "endpoint": "endpoint name",
    "inference": "inference id",
}


class _Edges:
    """The edges around the nodes a walk reaches, read as it reaches them: the lineage table's
    by the node's indexed id, a model version's approval decisions by its id, and the deployment
    revisions (their table read once, when the walk reaches a model version, an approval, a
    deployment, an endpoint or a job that rolled one out); captures only for the endpoints the
    walk reaches. A data set version's neighbourhood reads a few rows, however many edges the
    workspace holds. Each node's edges keep the order the whole-table read gave them: the
    lineage table's by id, then decisions, then revisions, then inference and capture."""

    def __init__(self, workspace: Context, session):
        self._ws = workspace
        self._session = session
        self._table: dict[tuple[str, int], list[LineageEdge]] = {}
        self._decided: dict[tuple[str, int], list[LineageEdge]] = {}
        self._revisions: dict[int, dict[str, list[LineageEdge]]] | None = None
        self._extra: dict[int, dict[str, list[LineageEdge]]] = {
            -1: defaultdict(list),
            1: defaultdict(list),
        }
        self._captures: dict[str, list[dict]] = {}
        self._inference: dict | None = None

    def _add(self, source: str, target: str, relation: str) -> None:
        """An edge of an inference or a capture (read from files, not the store)."""
        edge = LineageEdge(source, target, relation)
        self._extra[1][source].append(edge)
        self._extra[-1][target].append(edge)

    def _table_edges(self, key: str, sign: int) -> list[LineageEdge]:
        kind, _, record_id = key.partition(":")
        if sign < 0:
            where = (LineageRow.target_id == record_id, LineageRow.target_kind == kind)
        else:
            where = (LineageRow.source_id == record_id, LineageRow.source_kind == kind)
        rows = self._session.execute(
            select(
                LineageRow.source_kind,
                LineageRow.source_id,
                LineageRow.target_kind,
                LineageRow.target_id,
                LineageRow.relation,
            )
            .where(*where)
            .order_by(LineageRow.id)
        )
        return [
            LineageEdge(f"{source_kind}:{source_id}", f"{target_kind}:{target_id}", relation)
            for source_kind, source_id, target_kind, target_id, relation in rows
            # drawn through the endpoint's revisions, which hold more
            if not (relation == "deployed" and target_kind == "endpoint")
        ]

    def _decided_edges(self, key: str, sign: int) -> list[LineageEdge]:
        """A model version's decisions (out of it), or the version a decision is on (into it)."""
        kind, _, record_id = key.partition(":")
        if kind == "model_version" and sign > 0:
            events = self._session.scalars(
                select(ModelApprovalEventRow.id)
                .where(ModelApprovalEventRow.model_version_id == record_id)
                .order_by(ModelApprovalEventRow.id)
            )
            return [LineageEdge(key, f"approval:{event}", "decided") for event in events]
        if kind == "approval" and sign < 0 and record_id.isdigit():
            event = self._session.get(ModelApprovalEventRow, int(record_id))
            if event is not None:
                return [LineageEdge(f"model_version:{event.model_version_id}", key, "decided")]
        return []

    def _revision_edges(self, key: str, sign: int) -> list[LineageEdge]:
        kind, _, record_id = key.partition(":")
        wanted = kind in ("model_version", "approval", "deployment", "endpoint")
        if kind == "job" and sign > 0:
            wanted = (
                self._session.scalar(
                    select(DeploymentRow.id).where(DeploymentRow.job_id == record_id).limit(1)
                )
                is not None
            )
        if not wanted:
            return []
        if self._revisions is None:
            self._revisions = {-1: defaultdict(list), 1: defaultdict(list)}
            approvals: dict[str, list[ModelApprovalEventRow]] = defaultdict(list)
            for event in self._session.scalars(
                select(ModelApprovalEventRow).order_by(ModelApprovalEventRow.id)
            ):
                approvals[event.model_version_id].append(event)
            for revision in self._session.scalars(select(DeploymentRow).order_by(DeploymentRow.id)):
                target = f"deployment:{revision.id}"
                edges = []
                for variant in revision.variants:
                    version_id = variant["model_version_id"]
                    made = revision.created_at
                    in_effect = [e for e in approvals[version_id] if e.created_at <= made]
                    if in_effect and in_effect[-1].status == APPROVED:
                        edges.append(
                            LineageEdge(f"approval:{in_effect[-1].id}", target, "deployed")
                        )
                    else:
                        edges.append(
                            LineageEdge(
                                f"model_version:{version_id}", target, "deployed unapproved"
                            )
                        )
                if revision.job_id:
                    edges.append(LineageEdge(f"job:{revision.job_id}", target, "rolled out"))
                edges.append(LineageEdge(target, f"endpoint:{revision.endpoint_id}", "revision"))
                for edge in edges:
                    self._revisions[1][edge.source].append(edge)
                    self._revisions[-1][edge.target].append(edge)
        return self._revisions[sign].get(key, [])

    def add_inference(self, key: str, record: dict) -> None:
        """The edges of one captured inference: its endpoint served it, a model predicted it."""
        self._inference = record
        endpoint = self._session.scalar(
            select(EndpointRow).where(EndpointRow.name == record.get("endpoint"))
        )
        if endpoint is not None:
            self._add(f"endpoint:{endpoint.id}", key, "served")
        version = self._model_row(record.get("model"))
        if version is not None:
            self._add(f"model_version:{version.id}", key, "predicted")

    def around(self, key: str, sign: int) -> list[LineageEdge]:
        """The edges into ``key`` (``sign`` < 0) or out of it."""
        sign = -1 if sign < 0 else 1
        if (key, sign) not in self._table:
            self._table[(key, sign)] = self._table_edges(key, sign)
            self._decided[(key, sign)] = self._decided_edges(key, sign)
        if sign > 0 and key.startswith("endpoint:") and key not in self._captures:
            row = self._session.get(EndpointRow, key.partition(":")[2])
            self._captures[key] = capture_records(self._ws.artifacts, row.name) if row else []
            if self._captures[key]:
                self._add(key, f"capture:{row.id}", "served")
        return [
            *self._table[(key, sign)],
            *self._decided[(key, sign)],
            *self._revision_edges(key, sign),
            *self._extra[sign].get(key, []),
        ]

    # -- nodes -----------------------------------------------------------------------------------
    def node(self, key: str) -> LineageNode:
        kind, _, record_id = key.partition(":")
        session = self._session
        if kind == "dataset_version":
            row = session.get(DatasetVersionRow, record_id)
            if row is not None:
                return LineageNode(
                    kind,
                    record_id,
                    f"{row.name}:{row.version}",
                    {
                        "rows": row.row_count,
                        "columns": row.column_count,
                        "source": _clip(row.source, 60),
                        "created_at": _when(row.created_at),
                    },
                )
        elif kind == "job":
            row = session.get(JobRow, record_id)
            if row is not None:
                spec = row.spec or {}
                return LineageNode(
                    kind,
                    record_id,
                    f"{row.kind} {record_id}",
                    {
                        "status": row.status,
                        "algorithm": spec.get("algorithm") if row.kind == "training" else None,
                        "script": spec.get("script") if row.kind == "script" else None,
                        "created_at": _when(row.created_at),
                    },
                )
        elif kind == "model_version":
            row = session.get(ModelVersionRow, record_id)
            if row is not None:
                return LineageNode(
                    kind,
                    record_id,
                    f"{row.group}:{row.version}",
                    {
                        "approval_status": row.approval_status,
                        "algorithm": row.algorithm,
                        **_metrics_summary(row.metrics, row.problem_type),
                        "created_at": _when(row.created_at),
                    },
                )
        elif kind == "approval":
            row = session.get(ModelApprovalEventRow, int(record_id))
            if row is not None:
                return LineageNode(
                    kind,
                    record_id,
                    f"{row.status} by {row.created_by}",
                    {"reason": row.reason, "created_at": _when(row.created_at)},
                )
        elif kind == "deployment":
            row = session.get(DeploymentRow, int(record_id))
            if row is not None:
                endpoint = session.get(EndpointRow, row.endpoint_id)
                name = endpoint.name if endpoint is not None else row.endpoint_id
                return LineageNode(
                    kind,
                    record_id,
                    f"{name} revision {row.revision}",
                    {
                        "models": ", ".join(
                            f"{v.get('name', '?')}={v.get('model', '?')}" for v in row.variants
                        ),
                        "strategy": row.strategy,
                        "outcome": row.outcome,
                        "note": row.note,
                        "created_at": _when(row.created_at),
                    },
                )
        elif kind == "endpoint":
            row = session.get(EndpointRow, record_id)
            if row is not None:
                return LineageNode(
                    kind,
                    record_id,
                    row.name,
                    {"revision": row.revision, "created_at": _when(row.created_at)},
                )
        elif kind == "capture":
            records = self._captures.get(f"endpoint:{record_id}", [])
            row = session.get(EndpointRow, record_id)
            stamps = sorted(str(r.get("timestamp", "")) for r in records)
            return LineageNode(
                kind,
                record_id,
                f"of {row.name if row else record_id}",
                {
                    "invocations": len(records),
                    "variants": ", ".join(sorted({str(r.get("variant")) for r in records})),
                    "first": stamps[0] if stamps else None,
                    "last": stamps[-1] if stamps else None,
                },
            )
        elif kind == "inference" and self._inference is not None:
            record = self._inference
            return LineageNode(
                kind,
                record_id,
                record_id,
                {
                    "endpoint": record.get("endpoint"),
                    "variant": record.get("variant"),
                    "model": record.get("model"),
                    "latency_ms": record.get("latency_ms"),
                    "created_at": record.get("timestamp"),
                },
            )
        if kind in _TITLES or kind in ("approval", "deployment", "capture"):
            # A record an edge names that was deleted since (a model version, a job): kept visible.
            return LineageNode(kind, record_id, record_id, {"status": "deleted"})
        return LineageNode(kind, record_id, record_id)  # a kind other parts of kiln link

    def _model_row(self, ref: Any) -> ModelVersionRow | None:
        try:
            group, version = parse_ref(str(ref), what="model")
        except KilnError:
            return None
        return self._session.scalar(
            select(ModelVersionRow).where(
                ModelVersionRow.group == group, ModelVersionRow.version == version
            )
        )


def _metrics_summary(metrics: dict | None, problem_type: str) -> dict[str, Any]:
    """A model's headline metric on its test rows (else validation, out-of-fold or what it has):
    the problem type's primary metric, else the first two."""
    if not metrics:
        return {}
    source, block = next(
        (
            (k, metrics[k])
            for k in ("test", "validation", "oof", *metrics)
            if isinstance(metrics.get(k), dict)
        ),
        ("", metrics),
    )
    numbers = {k: v for k, v in block.items() if isinstance(v, int | float)}
    primary = PRIMARY_METRIC.get(problem_type)
    chosen = [primary] if primary in numbers else list(numbers)[:2]
    suffix = f" ({source})" if source else ""
    return {f"{k}{suffix}": round(numbers[k], 4) for k in chosen}


def _when(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value is not None else None


def _clip(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def _prefix_range(text: str) -> tuple[str, str]:
    """The bounds of the ids that start with ``text``: a range on the primary key's index
    (LIKE 'x%' does not use it in SQLite, whose LIKE ignores case)."""
    return text, text + "\U0010ffff"


def _split_ref(text: str) -> tuple[str, int | None]:
    """``("churn", 3)`` for ``churn:3`` or ``churn@3``; ``(text, None)`` for anything else."""
    found = re.fullmatch(r"(.+)[:@](\d+)", text)
    return (found.group(1), int(found.group(2))) if found else (text, None)


def _dataset_hit(name: str, version: int | None) -> dict:
    return {
        "name": name,
        "version": version,
        "ref": f"{name}:{version}",
        "href": f"#/data/{name}/{version}",
    }
