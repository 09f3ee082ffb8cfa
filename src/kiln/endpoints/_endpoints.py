"""Endpoints: a name that serves a model version, with a deployment history."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete as sql_delete
from sqlalchemy import select

from kiln.data import CAPTURE_FORMATS, META_COLUMNS, capture_records, parse_since
from kiln.endpoints._features import features_config
from kiln.endpoints._metrics import variant_series, variant_stats
from kiln.endpoints._multimodel import MULTI_MODEL, deploy_multi_model, refuse_multi_model
from kiln.endpoints._scaling import (
    ScalingEvent,
    autoscale_config,
    scaling_events,
    serverless_config,
)
from kiln.endpoints._strategy import parse_strategy
from kiln.endpoints._variants import (
    LIVE,
    SHADOW,
    check_weight,
    check_weights_total,
    live_variants,
    parse_weights,
    shadow_variant,
    traffic_shares,
    variant_named,
)
from kiln.errors import ConfigError, DataError, KilnError, NotFound, StateError
from kiln.refs import check_name
from kiln.registry import APPROVED, live_variant, record_revision, write_revision
from kiln.store import (
    DeploymentRow,
    EndpointRow,
    GroundTruthRow,
    LineageRow,
    Page,
    Record,
    like_pattern,
    new_id,
    now,
    paged,
    who,
)

if TYPE_CHECKING:
    import pandas as pd

    from kiln.context import Context
    from kiln.data import DatasetVersion

__all__ = ["CONFIG_SECTIONS", "Endpoint", "EndpointService"]

# The sections of an endpoint's configuration, one per inference option.
CONFIG_SECTIONS = ("serverless", "multi_model", "autoscale", "async", "features", "human_review")


@dataclass(frozen=True)
class Endpoint(Record):
    id: str
    name: str
    variants: list
    revision: int
    created_at: datetime
    updated_at: datetime
    created_by: str
    capture: dict
    active_deployment: str | None
    # How it serves, one section per inference option: "serverless", "multi_model",
    # "autoscale", "async", "human_review" (see CONFIG_SECTIONS); {} for a plain real-time
    # endpoint.
    config: dict

    @property
    def multi_model(self) -> dict | None:
        """A multi-model endpoint's settings (``memory_budget``, ``groups``,
        ``allow_unapproved``); None for an endpoint of variants."""
        return self.config.get(MULTI_MODEL) if self.config else None

    @property
    def model(self) -> str:
        """The model of the live variant with the most traffic (``GROUP:VERSION``); a
        multi-model endpoint has none (StateError)."""
        refuse_multi_model(self.config, self.name, "name one model it serves")
        return max(live_variants(self.variants), key=lambda v: v["weight"])["model"]

    @property
    def shares(self) -> dict[str, float]:
        """Each live variant's share of traffic."""
        return traffic_shares(self.variants)

    def to_dict(self) -> dict:
        model = None if self.multi_model is not None else self.model
        return self._plain() | {"model": model, "shares": self.shares}


class EndpointService:
    """``ws.endpoints``: deploy models to named endpoints and inspect them."""

    def __init__(self, workspace: Context):
        self._ws = workspace

    def deploy(
        self,
        model: str | None = None,
        *,
        endpoint: str,
        variant: str | None = None,
        weight: float | None = None,
        shadow: bool = False,
        sample: float = 1.0,
        strategy: str | None = None,
        alarms: list[str] | None = None,
        alarm_window: str | None = None,
        allow_unapproved: bool = False,
        multi_model: bool = False,
        memory_budget: int | str | None = None,
        groups: list[str] | str | None = None,
        serverless: bool = False,
        max_concurrency: int | None = None,
        idle_timeout: str | float | None = None,
        features: list[str] | str | None = None,
        on_log=None,
        wait: bool = True,
    ):
        """Deploy model version ``model`` to ``endpoint`` (creating the endpoint if needed).

        - No ``variant``, no ``strategy``: the endpoint serves this model alone, at once (its one
          live variant is ``primary``).
        - ``variant`` (and ``weight``): add that live variant, or point it at this model; the
          other variants keep serving. Traffic is routed in proportion to the weights.
        - ``shadow``: the model becomes the endpoint's shadow variant, sent a copy of ``sample``
          of the live requests off the response path; its answers are never returned.
        - ``strategy`` (``canary:10%:5m``, ``linear:25%:2m``, ``blue-green[:5m]``,
          ``all-at-once``): a guarded deployment job that shifts traffic from the current live
          variants to this model in steps, watching ``alarms`` during each bake, and rolls back
          by itself when one fires. Returns the job (see :mod:`kiln.endpoints._rollout`):
          finished, or with ``wait=False`` just started (a thread of this process watches its
          process; the job and the endpoint's history show how it goes).

        - ``multi_model``: a multi-model endpoint (docs/multi-model.md), which serves any
          deployable version of ``groups`` (a list or ``"churn,housing"``; default every group)
          that a request names, loading them lazily within ``memory_budget`` (bytes or
          ``"2GB"``; default 2 GiB). ``model`` is optional: a first model, checked now. Given
          again, it changes those settings. ``allow_unapproved`` lets it serve versions
          pending approval.

        Only Approved versions are deployed, unless ``allow_unapproved`` (or the workspace sets
        ``require_approval = false``), which the deployment history records; Rejected and
        Archived never are. The model file is verified before the endpoint changes.

        ``serverless`` (with ``max_concurrency``, ``idle_timeout``) makes the endpoint
        serverless in the same revision (docs/serverless.md); without it the endpoint keeps the
        configuration it had.

        ``features`` (``["customers:tenure,plan"]``): each request's rows are filled from these
        online feature groups by record id before prediction (docs/features.md); without it the
        endpoint keeps the features it had.
        """
        if multi_model:
            if features:
                raise ConfigError(
                    "--features enriches requests for the models of a plain endpoint; a "
                    "multi-model endpoint's models each take their own columns. Drop one of them.",
                    code="multimodel.not-supported",
                )
            if variant or weight is not None or shadow or strategy or serverless:
                raise ConfigError(
                    "A multi-model endpoint has no variants: --multi-model takes none of "
                    "--variant, --weight, --shadow or --strategy; and it loads each model on "
                    "first use and evicts the least recently used, so --serverless adds nothing.",
                    code="multimodel.not-supported",
                )
            return deploy_multi_model(
                self._ws,
                model,
                endpoint=endpoint,
                memory_budget=memory_budget,
                groups=groups,
                allow_unapproved=allow_unapproved,
            )
        if memory_budget is not None or groups is not None:
            raise ConfigError(
                "--memory-budget and --groups are settings of a multi-model endpoint: add "
                "--multi-model (SDK: multi_model=True).",
                code="multimodel.needs-multi-model",
            )
        if model is None:
            raise ConfigError(
                f"Name the model version to deploy to {endpoint!r} (GROUP:VERSION), or make it a "
                "multi-model endpoint with --multi-model.",
                code="endpoints.no-model",
            )
        check_name(endpoint, what="endpoint")
        self._refuse_multi_model(endpoint, f"take model {model} as a variant")
        sections = _scaling_sections(serverless, max_concurrency, idle_timeout)
        if features is not None:
            sections["features"] = features_config(self._ws, features)
        if variant is not None:
            check_name(variant, what="variant")
        version = self._ws.models.get(model)
        self._ws.models.check_deployable(version, allow_unapproved=allow_unapproved)
        guarded = strategy is not None and parse_strategy(strategy).kind != "all-at-once"
        if guarded and endpoint not in self.revisions():
            guarded = False  # a new endpoint has no traffic to protect: it starts on this model
        if guarded:
            if shadow or weight is not None:
                raise ConfigError(
                    "A deployment --strategy moves all traffic to the new model in steps, so it "
                    "takes neither --shadow nor --weight. Drop one of them.",
                    code="endpoints.bad-strategy",
                )
            from kiln.endpoints._rollout import start_rollout

            return start_rollout(
                self._ws,
                version,
                endpoint=endpoint,
                variant=variant,
                strategy=strategy,
                alarms=alarms,
                alarm_window=alarm_window,
                allow_unapproved=allow_unapproved,
                sections=sections,
                on_log=on_log,
                wait=wait,
            )
        self._ws.models.load(version)  # refuses a missing or tampered artifact up front
        note = _unapproved_note(version, allow_unapproved)
        new = live_variant(version)
        if shadow:
            new |= {"name": variant or "shadow", "role": SHADOW, "sample": _sample(sample)}
            new.pop("weight")
        elif variant is not None:
            new |= {
                "name": variant,
                "weight": check_weight(1.0 if weight is None else weight, variant=variant),
            }
        with self._ws.store.write() as session:
            row = session.scalars(select(EndpointRow).where(EndpointRow.name == endpoint)).first()
            if row is None:
                if shadow:
                    raise NotFound(
                        f"Endpoint {endpoint!r} does not exist, and a shadow variant needs a live "
                        f"one to copy traffic from. Deploy a live model first: 'kiln deploy "
                        f"GROUP:VERSION --endpoint {endpoint}'.",
                        code="serving.unknown-endpoint",
                    )
                variants = [new]
                check_weights_total(variants, endpoint=endpoint)
                stamp = now()
                row = EndpointRow(
                    id=new_id("ep"),
                    name=endpoint,
                    variants=variants,
                    revision=1,
                    created_at=stamp,
                    updated_at=stamp,
                    created_by=who(),
                    capture={},
                    config=sections,
                )
                session.add(row)
                session.flush()
                record_revision(session, row, note=note)
                return Endpoint._from_row(row)
            _refuse_during_rollout(row)
            if shadow:
                variants = [v for v in row.variants if v.get("role") != SHADOW] + [new]
            elif variant is not None:
                if any(v["name"] == variant and v.get("role") == SHADOW for v in row.variants):
                    raise StateError(
                        f"{variant!r} is the shadow variant of endpoint {endpoint!r}. Make it "
                        f"live with 'kiln endpoints promote {endpoint} {variant}', or choose "
                        "another variant name.",
                        code="endpoints.variant-is-shadow",
                    )
                kept = [dict(v) for v in row.variants if v["name"] != variant]
                old = next((v for v in row.variants if v["name"] == variant), None)
                if old is not None and weight is None:
                    new["weight"] = old["weight"]  # a new model for the variant, same traffic
                variants = kept + [new]
            else:
                variants = [new] + [v for v in row.variants if v.get("role") == SHADOW]
            check_weights_total(variants, endpoint=endpoint)
            if sections:
                row.config = {**(row.config or {}), **sections}
            write_revision(session, row, variants, note=note)
            return Endpoint._from_row(row)

    def update(
        self,
        name: str,
        *,
        weights: dict[str, float] | str | None = None,
        remove: list[str] | None = None,
        note: str | None = None,
    ) -> Endpoint:
        """Re-weight live variants (``{"blue": 0.9, "green": 0.1}`` or ``"blue=0.9,green=0.1"``;
        variants not named keep their weight) and/or remove variants, as one new revision."""
        if isinstance(weights, str):
            weights = parse_weights(weights)
        weights = {k: check_weight(w, variant=k) for k, w in (weights or {}).items()}
        remove = list(remove or [])
        if not weights and not remove:
            raise ConfigError(
                "Nothing to change: give --weights NAME=W,... and/or --remove NAME.",
                code="endpoints.nothing-to-update",
            )
        with self._ws.store.write() as session:
            row = self._row(session, name)
            refuse_multi_model(row.config, name, "re-weight or remove variants")
            _refuse_during_rollout(row)
            variants = [dict(v) for v in row.variants]
            for variant_name in [*weights, *remove]:
                variant_named(variants, variant_name, endpoint=name)
            for variant in variants:
                if variant["name"] in weights:
                    if variant.get("role") == SHADOW:
                        raise StateError(
                            f"{variant['name']!r} is a shadow variant: it gets a copy of the "
                            "traffic, not a weight. Promote it first with 'kiln endpoints "
                            f"promote {name} {variant['name']}'.",
                            code="endpoints.variant-is-shadow",
                        )
                    variant["weight"] = weights[variant["name"]]
            variants = [v for v in variants if v["name"] not in remove]
            check_weights_total(variants, endpoint=name)
            changes = [f"{k}={v:g}" for k, v in weights.items()] + [f"-{r}" for r in remove]
            write_revision(session, row, variants, note=note or "update " + ", ".join(changes))
            return Endpoint._from_row(row)

    def promote(
        self,
        name: str,
        shadow: str,
        *,
        weight: float = 1.0,
        replace: bool = True,
        strategy: str | None = None,
        alarms: list[str] | None = None,
        on_log=None,
        wait: bool = True,
    ):
        """Make the shadow variant live: by ``strategy`` when given (a guarded deployment of its
        model; ``wait=False`` returns its job as it starts, see :meth:`deploy`), else at once —
        replacing the live variants (``replace``) or beside them with ``weight``."""
        endpoint = self.get(name)
        refuse_multi_model(endpoint.config, name, "promote a shadow variant")
        current = variant_named(endpoint.variants, shadow, endpoint=name)
        if current.get("role") != SHADOW:
            raise StateError(
                f"Variant {shadow!r} of endpoint {name!r} is live already.",
                code="endpoints.not-shadow",
            )
        if strategy is not None:
            # The shadow test ends here: its model becomes a live variant by the strategy (and
            # stops receiving copies), or, if the deployment rolls back, the endpoint serves as
            # before without it.
            self.update(name, remove=[shadow], note=f"shadow {shadow} promoted by {strategy}")
            return self.deploy(
                current["model"],
                endpoint=name,
                strategy=strategy,
                alarms=alarms,
                allow_unapproved=True,
                on_log=on_log,
                wait=wait,
            )
        with self._ws.store.write() as session:
            row = self._row(session, name)
            _refuse_during_rollout(row)
            promoted = {k: v for k, v in current.items() if k != "sample"}
            promoted |= {"role": LIVE, "weight": check_weight(weight, variant=shadow)}
            others = [v for v in row.variants if v["name"] != shadow]
            variants = [promoted] + ([] if replace else others)
            check_weights_total(variants, endpoint=name)
            write_revision(session, row, variants, note=f"promoted shadow {shadow}")
            return Endpoint._from_row(row)

    def rollback(self, name: str, *, to: int | None = None) -> Endpoint:
        """Serve the variants of an earlier revision again (by default the one before the
        current), as a new revision. Models since Rejected or Archived are refused."""
        with self._ws.store.write() as session:
            row = self._row(session, name)
            refuse_multi_model(row.config, name, "roll back to earlier variants")
            _refuse_during_rollout(row)
            target_revision = row.revision - 1 if to is None else to
            # Only revisions before the current one are read: a number past the column's
            # 64-bit range would fail in the driver.
            earlier = 1 <= target_revision < row.revision
            target = (
                session.scalars(
                    select(DeploymentRow).where(
                        (DeploymentRow.endpoint_id == row.id)
                        & (DeploymentRow.revision == target_revision)
                    )
                ).first()
                if earlier
                else None
            )
            if target is None:
                raise NotFound(
                    f"Endpoint {name!r} has no earlier revision {target_revision} to roll back "
                    f"to (it is at revision {row.revision}). See 'kiln endpoints history {name}'.",
                    code="endpoints.no-such-revision",
                )
            variants = []
            for variant in target.variants:
                version = self._ws.models.get(variant["model"])
                self._ws.models.check_deployable(version, allow_unapproved=True)
                variants.append(variant | {"approval_status": version.approval_status})
            write_revision(session, row, variants, note=f"rollback to revision {target_revision}")
            return Endpoint._from_row(row)

    def reconcile(self, name: str | None = None) -> list[str]:
        """Roll back endpoints whose guarded deployment died mid-way; their names."""
        from kiln.endpoints._rollout import reconcile

        return reconcile(self._ws, name)

    def _refuse_multi_model(self, name: str, doing: str) -> None:
        with self._ws.store.read() as session:
            config = session.scalar(select(EndpointRow.config).where(EndpointRow.name == name))
        refuse_multi_model(config, name, doing)

    def _row(self, session, name: str) -> EndpointRow:
        row = session.scalars(select(EndpointRow).where(EndpointRow.name == name)).first()
        if row is None:
            self.get(name)  # raises the NotFound
        return row

    def delete(self, name: str) -> Endpoint:
        """Delete an endpoint and its deployment history; the models it served stay.

        A running server stops serving it within a second (then answers 404). Its asynchronous
        invocations not yet finished are Failed (``async.endpoint-deleted``).
        """
        from kiln.endpoints._async import fail_unfinished

        endpoint = self.get(name)
        with self._ws.store.write() as session:
            fail_unfinished(session, name)
            session.execute(
                sql_delete(DeploymentRow).where(DeploymentRow.endpoint_id == endpoint.id)
            )
            session.execute(
                sql_delete(LineageRow).where(
                    (LineageRow.target_kind == "endpoint") & (LineageRow.target_id == endpoint.id)
                )
            )
            session.delete(session.get(EndpointRow, endpoint.id))
        return endpoint

    def get(self, name: str) -> Endpoint:
        with self._ws.store.read() as session:
            row = session.scalars(select(EndpointRow).where(EndpointRow.name == name)).first()
            if row is None:
                raise NotFound(
                    f"No endpoint named {name!r}. See 'kiln endpoints list', or create it with "
                    f"'kiln deploy GROUP:VERSION --endpoint {name}'.",
                    code="serving.unknown-endpoint",
                )
            return Endpoint._from_row(row)

    def list(self) -> list[Endpoint]:
        with self._ws.store.read() as session:
            rows = session.scalars(select(EndpointRow).order_by(EndpointRow.name)).all()
            return [Endpoint._from_row(r) for r in rows]

    def page(
        self,
        *,
        q: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Page[Endpoint]:
        """A page of endpoints (``q`` finds text in the name), by name unless ``sort`` says
        ``updated_at``, ``created_at`` or ``revision`` (``-`` first for descending)."""
        query = select(EndpointRow)
        if q:
            query = query.where(EndpointRow.name.like(like_pattern(q), escape="\\"))
        columns = {
            "name": EndpointRow.name,
            "updated_at": EndpointRow.updated_at,
            "created_at": EndpointRow.created_at,
            "revision": EndpointRow.revision,
        }
        with self._ws.store.read() as session:
            page = paged(
                session,
                query,
                limit=limit,
                offset=offset,
                sort=sort,
                columns=columns,
                default_sort="name",
            )
            items = [Endpoint._from_row(row) for row in page.items]
        return page.with_items(items)

    def health(self, name: str) -> dict:
        """Whether the endpoint's model can be served as far as the workspace can tell: its
        record exists and its file is there with its recorded digest.

        ``{"status": "ready"}``, or ``{"status": "failed", "reason": ...}`` (what a server would
        answer 503 for). Whether the model unpickles in the server's environment only the server
        knows: its ``/ping`` lists the endpoints it failed to load.
        """
        endpoint = self.get(name)
        try:
            for variant in endpoint.variants:
                version = self._ws.models.get(variant["model"])
                self._ws.artifacts.local_path(version.digest, what=f"model {version.ref}")
        except KilnError as exc:
            return {"status": "failed", "reason": exc.message}
        except Exception as exc:  # an unreadable file or store: reported, not raised
            return {"status": "failed", "reason": f"{type(exc).__name__}: {str(exc)[:300]}"}
        return {"status": "ready"}

    def metrics(
        self, name: str, *, seconds: float | None = 300.0, since: datetime | None = None
    ) -> dict[str, dict]:
        """Each variant's serving figures over the last ``seconds`` (or from ``since``; both
        None: everything recorded), summed over every server that served it."""
        self.get(name)
        _check_seconds(seconds)
        stats = variant_stats(self._ws.store, name, since=since, seconds=seconds)
        return {variant: s.to_dict() for variant, s in sorted(stats.items())}

    def compare(self, name: str, *, seconds: float | None = None) -> dict:
        """The endpoint's variants side by side over the last ``seconds`` (None: everything):
        serving metrics, and model quality on the captured rows that have ground truth, with
        each variant's difference from the variant with the most traffic and its 95 % interval.
        """
        from kiln.endpoints._quality import quality_by_variant

        endpoint = self.get(name)
        refuse_multi_model(endpoint.config, name, "compare variants")
        _check_seconds(seconds)
        metrics = self.metrics(name, seconds=seconds)
        since = f"{seconds:g}s" if seconds is not None else None
        capture = self._ws.data.capture(name, since=since)
        reference = max(live_variants(endpoint.variants), key=lambda v: v["weight"])["name"]
        return {
            "endpoint": name,
            "window_seconds": seconds,
            "variants": metrics,
            "quality": quality_by_variant(capture, reference),
        }

    def shadow_report(self, name: str, *, out: str | Path, seconds: float | None = None) -> Path:
        """Write the HTML report of the endpoint's shadow test (all of it, or the last
        ``seconds``)."""
        from kiln.endpoints._reports import shadow_report

        shadow, stats, window = self._shadow_figures(name, seconds)
        return shadow_report(name, shadow, stats, out=out, window=window)

    def shadow_report_html(self, name: str, *, seconds: float | None = None) -> str:
        """The shadow test's report as one self-contained HTML page (plotly.js inlined), for a
        server to answer without writing a file (Studio shows it in a sandboxed frame)."""
        from kiln.endpoints._reports import shadow_report_page

        shadow, stats, window = self._shadow_figures(name, seconds)
        return shadow_report_page(name, shadow, stats, window=window)

    def _shadow_figures(self, name: str, seconds: float | None) -> tuple[dict, dict, str]:
        endpoint = self.get(name)
        refuse_multi_model(endpoint.config, name, "report on a shadow test")
        _check_seconds(seconds)
        shadow = shadow_variant(endpoint.variants)
        if shadow is None:
            raise StateError(
                f"Endpoint {name!r} has no shadow variant. Start a shadow test with 'kiln deploy "
                f"GROUP:VERSION --endpoint {name} --shadow'.",
                code="endpoints.no-shadow",
            )
        stats = variant_stats(self._ws.store, name, seconds=seconds)
        window = "everything recorded" if seconds is None else f"the last {seconds:g} s"
        return shadow, stats, window

    def revisions(self) -> dict[str, int]:
        """``{name: revision}`` of every endpoint: a cheap check for changes."""
        with self._ws.store.read() as session:
            return dict(session.execute(select(EndpointRow.name, EndpointRow.revision)).all())

    def history(self, name: str) -> list[dict]:
        endpoint = self.get(name)
        with self._ws.store.read() as session:
            rows = session.scalars(
                select(DeploymentRow)
                .where(DeploymentRow.endpoint_id == endpoint.id)
                .order_by(DeploymentRow.revision)
            ).all()
            return [_revision(r) for r in rows]

    def history_page(
        self,
        name: str,
        *,
        sort: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Page[dict]:
        """A page of the endpoint's revisions as :meth:`history` gives them, newest first
        (``sort="revision"`` for oldest first): every step of a guarded deployment is one."""
        endpoint = self.get(name)
        query = select(DeploymentRow).where(DeploymentRow.endpoint_id == endpoint.id)
        with self._ws.store.read() as session:
            page = paged(
                session,
                query,
                limit=limit,
                offset=offset,
                sort=sort,
                columns={"revision": DeploymentRow.revision},
                default_sort="-revision",
            )
            items = [_revision(row) for row in page.items]
        return page.with_items(items)

    def metric_series(self, name: str, *, seconds: float = 900.0, step: float = 30.0) -> dict:
        """Each variant's invocations, errors and latency in ``step``-second buckets over the
        last ``seconds`` (a chart's points; see :func:`kiln.endpoints.variant_series`)."""
        for value, what in ((seconds, "window"), (step, "step")):
            if not isinstance(value, int | float) or not 0 < value <= 7 * 86400:
                raise ConfigError(
                    f"The metrics {what} must be a number of seconds above 0 and at most a week "
                    f"(604800). Got {value!r}.",
                    code="endpoints.bad-window",
                    field=what,
                )
        if seconds / step > 2000:
            raise ConfigError(
                f"A {seconds:g} s window in {step:g} s steps is {seconds / step:.0f} points; "
                "ask for at most 2000 (a longer step).",
                code="endpoints.bad-window",
                field="step",
            )
        self.get(name)
        return variant_series(self._ws.store, name, seconds=seconds, step=step)

    # -- data capture and ground truth ----------------------------------------------------------
    def set_capture(self, name: str, percent: float = 100.0, *, format: str = "jsonl") -> Endpoint:
        """Capture ``percent`` of the endpoint's invocations (0 turns capture off), as JSON lines
        or Parquet files in the artifact store.

        Running servers follow within about a second. Capture is a setting of the endpoint, not
        a deployment: the revision and history stay as they are.

        Examples
        --------
        >>> ws.endpoints.set_capture("churn", 100)          # doctest: +SKIP
        """
        given = percent
        try:
            percent = float(str(percent).strip().removesuffix("%"))
        except (TypeError, ValueError):
            percent = math.nan
        if not 0 <= percent <= 100:
            raise ConfigError(
                f"The capture percentage must be a number from 0 (off) to 100. Got {given!r}.",
                code="capture.bad-percent",
            )
        if format not in CAPTURE_FORMATS:
            raise ConfigError(
                f"Unknown capture format {format!r}. Use one of: {', '.join(CAPTURE_FORMATS)}.",
                code="capture.bad-format",
            )
        with self._ws.store.write() as session:
            row = session.scalars(select(EndpointRow).where(EndpointRow.name == name)).first()
            if row is None:
                self.get(name)  # raises the helpful NotFound
            row.capture = {"percent": percent, "format": format} if percent > 0 else {}
            return Endpoint._from_row(row)

    def set_config(
        self, name: str, section: str, value: dict | None, *, note: str | None = None
    ) -> Endpoint:
        """Set (or with ``None`` remove) one section of the endpoint's configuration, as the
        endpoint's next revision (so every server picks it up at its next look), with ``note``
        in the deployment history. Each inference option validates its own section before it
        calls this."""
        if section not in CONFIG_SECTIONS:
            raise ConfigError(
                f"Unknown endpoint configuration section {section!r}. Known: "
                f"{', '.join(CONFIG_SECTIONS)}.",
                code="endpoints.bad-config",
            )
        with self._ws.store.write() as session:
            row = self._row(session, name)
            config = {k: v for k, v in (row.config or {}).items() if k != section}
            if value is not None:
                config[section] = value
            row.config = config
            write_revision(session, row, list(row.variants), note=note)
            return Endpoint._from_row(row)

    # -- asynchronous invocations (kiln.endpoints._async) ----------------------------------------
    @property
    def async_queue(self):
        """The durable queue of asynchronous invocations (:class:`AsyncQueue`)."""
        from kiln.endpoints._async import AsyncQueue

        return AsyncQueue(self._ws)

    def async_config(self, name: str, **settings) -> Endpoint:
        """Set the endpoint's asynchronous settings: ``max_concurrency``, ``timeout`` (up to
        1h), ``on_success``/``on_failure`` webhook URLs, ``max_payload_mb``; ``reset=True``."""
        return self.async_queue.configure(name, **settings)

    def async_invoke(
        self, name: str, payload=None, *, input_location: str | None = None, content_type=None
    ):
        """Queue an asynchronous invocation of endpoint ``name``; a running ``kiln serve``
        processes it (docs/async.md).

        Parameters
        ----------
        payload
            The rows: bytes, or a JSON or CSV file (stored in the artifact store).
        input_location
            Instead of a payload, where the rows are read when processed: a data set version
            ``NAME:VERSION``, a file path or an fsspec URL.
        content_type
            ``application/json`` or ``text/csv``; by default from the file's suffix.

        Returns
        -------
        AsyncInvocation
            Pending, with its ``id`` and ``output_location``.

        Examples
        --------
        >>> inv = ws.endpoints.async_invoke("churn", "rows.csv")        # doctest: +SKIP
        >>> ws.endpoints.async_status(inv.id).status                    # doctest: +SKIP
        'Completed'
        """
        return self.async_queue.submit(
            name, payload=payload, input_location=input_location, content_type=content_type
        )

    def async_status(self, inference_id: str):
        return self.async_queue.get(inference_id)

    def async_result(self, inference_id: str, *, out: str | os.PathLike | None = None):
        """A Completed invocation's output (JSON lines), as bytes or written to ``out``."""
        return self.async_queue.result(inference_id, out=out)

    def async_list(self, name: str | None = None, *, status: str | None = None, limit=50):
        return self.async_queue.list(name, status=status, limit=limit)

    def set_serverless(
        self,
        name: str,
        *,
        max_concurrency: int | None = None,
        idle_timeout: str | float | None = None,
        off: bool = False,
    ) -> Endpoint:
        """Make the endpoint serverless (its models unloaded after ``idle_timeout`` without a
        request, at most ``max_concurrency`` requests in flight per server process), or with
        ``off`` a plain real-time endpoint again. A setting not given keeps its value (the
        default on an endpoint that was not serverless). See docs/serverless.md."""
        if off and (max_concurrency is not None or idle_timeout is not None):
            raise ConfigError(
                "--off turns serverless off, so it takes no --max-concurrency or --idle-timeout: "
                "drop them, or drop --off to change the settings.",
                code="endpoints.off-with-settings",
            )
        config = self.get(name).config
        if not off:
            refuse_multi_model(config, name, "be serverless (it loads each model on first use)")
        current = config.get("serverless") or {}
        if max_concurrency is None:
            max_concurrency = current.get("max_concurrency")
        if idle_timeout is None:
            idle_timeout = current.get("idle_timeout_seconds")
        value = (
            None
            if off
            else serverless_config(max_concurrency=max_concurrency, idle_timeout=idle_timeout)
        )
        return self.set_config(name, "serverless", value, note=f"serverless {_onoff(value)}")

    def set_features(self, name: str, features: list[str] | str | None) -> Endpoint:
        """Enrich the endpoint's requests from online feature groups (``["customers:tenure"]``),
        or with ``None`` stop; a new revision, picked up by every server. See docs/features.md."""
        value = None if features is None else features_config(self._ws, features)
        note = (
            "features off"
            if value is None
            else "features "
            + " ".join(f"{g['group']}:{','.join(g['features'])}" for g in value["groups"])
        )
        return self.set_config(name, "features", value, note=note)

    def set_autoscale(self, name: str, *, off: bool = False, **policy) -> Endpoint:
        """Autoscale the worker processes of ``kiln serve`` for this endpoint (``min_workers``,
        ``max_workers``, one of ``target_invocations_per_worker``, ``target_cpu``,
        ``target_p99_ms``, and the cool-downs), or with ``off`` stop. See docs/serverless.md."""
        given = sorted(k for k, v in policy.items() if v is not None)
        if off and given:
            raise ConfigError(
                f"off stops autoscaling, so it takes no policy; got {', '.join(given)}. Drop "
                "them, or drop off (--off) to set the policy.",
                code="endpoints.off-with-settings",
            )
        value = None if off else autoscale_config(**policy)
        return self.set_config(name, "autoscale", value, note=f"autoscale {_onoff(value)}")

    def scaling_events(self, name: str, *, limit: int | None = 100) -> list[ScalingEvent]:
        """The endpoint's scaling actions (workers added or removed, models unloaded or loaded
        again), oldest first, with the metric and value that caused each."""
        self.get(name)
        return scaling_events(self._ws.store, name, limit=limit)

    def capture_settings(self) -> dict[str, dict]:
        """``{name: capture settings}`` of every endpoint (``{}`` for those that do not capture):
        what a server re-reads every second."""
        with self._ws.store.read() as session:
            rows = session.execute(select(EndpointRow.name, EndpointRow.capture)).all()
            return {name: dict(capture or {}) for name, capture in rows}

    def ground_truth(
        self,
        name: str,
        source: str | os.PathLike | pd.DataFrame | list[dict],
        *,
        count_unknown: bool = True,
    ) -> dict:
        """Store the true labels of captured predictions, by inference id.

        ``source``: a CSV or JSON-lines file, a DataFrame or a list of records, with the columns
        ``inference_id`` and ``label`` (or the model's target name instead of ``label``). A label
        uploaded again for the same inference id replaces the earlier one; the whole upload is
        stored in one transaction. Inference ids the capture does not hold (yet) are stored too,
        counted and named in the result, so a mistake shows and a label that arrives before its
        capture is written still joins it later.

        ``count_unknown=False`` skips reading the whole capture to count the ids it does not
        hold, a cost that grows with the capture: for a caller whose ids come from the server
        itself (human review, label by label); ``unknown_ids`` is then None.

        Returns
        -------
        dict
            ``{"received", "stored", "unknown_ids", "examples_of_unknown"}``.
        """
        endpoint = self.get(name)
        frame = _label_frame(source)
        target = self._target_of(endpoint)
        labels = _labels_by_id(frame, target)
        unknown: list[str] | None = None
        if count_unknown:
            captured = {r.get("inference_id") for r in capture_records(self._ws.artifacts, name)}
            unknown = [i for i in labels if i.split(":")[0] not in captured]
        stamp, by = now(), who()
        ids = list(labels)
        with self._ws.store.write() as session:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                session.execute(
                    sql_delete(GroundTruthRow).where(
                        (GroundTruthRow.endpoint == name) & GroundTruthRow.inference_id.in_(chunk)
                    )
                )
            session.add_all(
                GroundTruthRow(
                    endpoint=name,
                    inference_id=i,
                    label={"value": labels[i]},
                    received_at=stamp,
                    created_by=by,
                )
                for i in ids
            )
        return {
            "received": len(frame),
            "stored": len(ids),
            "unknown_ids": None if unknown is None else len(unknown),
            "examples_of_unknown": (unknown or [])[:5],
        }

    def ingest_capture(
        self,
        name: str,
        *,
        dataset: str,
        since: str | datetime | None = None,
        unlabelled: bool = False,
    ) -> DatasetVersion:
        """Make a data set version of what the endpoint captured, for retraining.

        Its columns are the request's input columns and the ground-truth label, named as the
        model's target. Only rows with a label are kept, unless ``unlabelled`` (then a row
        without one has its target missing). ``since``: an ISO 8601 time or a duration back
        from now (``7d``). The version's lineage names the endpoint.
        """
        endpoint = self.get(name)
        target = self._target_of(endpoint)
        rows = self._ws.data.capture(name, since=parse_since(since))
        when = f" since {since}" if since else ""
        if rows.empty:
            raise DataError(
                f"Endpoint {name!r} has captured nothing{when}. Turn capture on with "
                f"'kiln endpoints capture {name} --percent 100' and send it requests.",
                code="capture.empty",
            )
        if not unlabelled:
            rows = rows[rows["label"].notna()]
            if rows.empty:
                raise DataError(
                    f"None of what endpoint {name!r} captured{when} has a ground-truth label. "
                    f"Upload labels with 'kiln endpoints ground-truth {name} FILE', or ingest "
                    "the rows without labels (--unlabelled).",
                    code="capture.no-labels",
                )
        inputs = [
            c for c in rows.columns if c not in META_COLUMNS and not c.startswith("predicted_")
        ]
        frame = rows[inputs].reset_index(drop=True)
        frame[target] = rows["label"].to_numpy()
        return self._ws.data.ingest(
            frame,
            name=dataset,
            description=f"capture of endpoint {name}{when}",
            lineage=(("endpoint", endpoint.id, "captured"),),
        )

    def _target_of(self, endpoint: Endpoint) -> str:
        try:
            return self._ws.models.get(endpoint.model).target or "label"
        except KilnError:
            return "label"


MAX_INFERENCE_ID = 64  # the ground_truth table's column


def _label_frame(source: Any) -> pd.DataFrame:
    """The ground-truth upload as a DataFrame, inference ids read as text."""
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        return source
    if isinstance(source, list):
        return pd.DataFrame(source)
    path = Path(source)
    if not path.is_file():
        raise DataError(
            f"No ground-truth file at {path}. Give a CSV or JSON-lines file with the columns "
            "inference_id and label.",
            code="ground-truth.bad-source",
        )
    try:
        if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
            return pd.read_json(path, lines=True, dtype={"inference_id": str})
        return pd.read_csv(path, dtype={"inference_id": str})
    except ValueError as exc:
        raise DataError(
            f"Cannot read the ground-truth file {path}: {str(exc)[:200]}. Give a CSV (with a "
            "header row) or a JSON-lines file with the columns inference_id and label.",
            code="ground-truth.bad-source",
        ) from exc


def _labels_by_id(frame: pd.DataFrame, target: str) -> dict[str, Any]:
    """``{inference_id: label}`` of an upload, the last row winning for an id given twice."""
    import pandas as pd

    column = "label" if "label" in frame.columns else target
    if "inference_id" not in frame.columns or column not in frame.columns:
        raise DataError(
            "The ground truth needs the columns inference_id and label (or the model's target, "
            f"{target!r}). It has: {', '.join(map(str, frame.columns[:20])) or 'none'}.",
            code="ground-truth.bad-columns",
        )
    ids, values = frame["inference_id"], frame[column]
    missing = ids.isna() | ids.astype(str).str.strip().eq("") | values.isna()
    if missing.any():
        row = int(missing.to_numpy().nonzero()[0][0])
        raise DataError(
            f"Row {row + 1} of the ground truth has no inference_id or no {column}; every row "
            "needs both. Nothing was stored.",
            code="ground-truth.missing-value",
        )
    ids = ids.astype(str).str.strip()
    if "row" in frame.columns:
        # One label per row of a multi-row request: stored under "<inference id>:<row>".
        rows = pd.to_numeric(frame["row"], errors="coerce")
        bad = frame["row"].notna() & (rows.isna() | (rows < 0) | (rows % 1 != 0))
        if bad.any():
            where = int(bad.to_numpy().nonzero()[0][0])
            raise DataError(
                f"Row {where + 1} of the ground truth has row={frame['row'].iloc[where]!r}: "
                "row is the 0-based position of the labelled row in its request (0, 1, ...), "
                "or empty for a label of the whole request. Nothing was stored.",
                code="ground-truth.bad-row",
            )
        ids = pd.Series(
            [i if pd.isna(r) else f"{i}:{int(r)}" for i, r in zip(ids, rows, strict=True)],
            index=ids.index,
        )
    too_long = ids.str.len() > MAX_INFERENCE_ID
    if too_long.any():
        raise DataError(
            f"Inference id {ids[too_long].iloc[0][:80]!r}… is longer than {MAX_INFERENCE_ID} "
            "characters: it is not one kiln answered (32 hex digits). Nothing was stored.",
            code="ground-truth.bad-id",
        )
    labels: dict[str, Any] = {}
    for inference_id, value in zip(ids, values, strict=True):
        labels[inference_id] = value.item() if hasattr(value, "item") else value
        if isinstance(labels[inference_id], pd.Timestamp):
            labels[inference_id] = labels[inference_id].isoformat()
    return labels


def _revision(row: DeploymentRow) -> dict:
    """One revision of an endpoint's history, JSON-ready."""
    return {
        "revision": row.revision,
        "variants": row.variants,
        "created_at": row.created_at.isoformat() + "Z",
        "created_by": row.created_by,
        "note": row.note,
        "strategy": row.strategy,
        "job": row.job_id,
        "outcome": row.outcome,
    }


def _scaling_sections(serverless: bool, max_concurrency, idle_timeout) -> dict:
    """The configuration sections ``deploy``'s scaling options set, checked before any change."""
    if not serverless:
        if max_concurrency is not None or idle_timeout is not None:
            raise ConfigError(
                "--max-concurrency and --idle-timeout apply to serverless endpoints: add "
                "--serverless (or use 'kiln endpoints serverless ENDPOINT').",
                code="serverless.not-serverless",
            )
        return {}
    return {
        "serverless": serverless_config(max_concurrency=max_concurrency, idle_timeout=idle_timeout)
    }


def _onoff(value: dict | None) -> str:
    return "off" if value is None else "on " + ", ".join(f"{k}={v}" for k, v in value.items())


# The longest window a figure may look back over (ten years); None looks at everything.
MAX_WINDOW_SECONDS = 10 * 366 * 86400.0


def _check_seconds(seconds: float | None) -> None:
    """A look-back window is None or a finite number of seconds above 0 (NaN, infinity or a
    window past ``datetime``'s range would fail as a 500)."""
    if seconds is None:
        return
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        ok = False
    else:
        ok = 0 < seconds <= MAX_WINDOW_SECONDS
    if not ok:
        raise ConfigError(
            f"A window is a number of seconds above 0 and at most ten years "
            f"({MAX_WINDOW_SECONDS:.0f}), or none for everything recorded. Got {seconds!r}.",
            code="endpoints.bad-window",
            field="seconds",
        )


def _unapproved_note(version, allow_unapproved: bool) -> str | None:
    if version.approval_status == APPROVED:
        return None
    why = "--allow-unapproved" if allow_unapproved else "require_approval = false"
    return f"deployed {version.ref} while {version.approval_status} ({why})"


def _sample(sample: float) -> float:
    try:
        value = float(sample)
    except (TypeError, ValueError):
        value = -1.0
    if not 0 < value <= 1:
        raise ConfigError(
            f"Shadow sample {sample!r} is not a share of traffic in (0, 1]: e.g. 1.0 (every "
            "request, --sample 100%) or 0.1 (--sample 10%).",
            code="endpoints.bad-sample",
        )
    return value


def _refuse_during_rollout(row: EndpointRow) -> None:
    """One change at a time: a guarded deployment owns the endpoint until it ends."""
    if row.active_deployment:
        raise StateError(
            f"Endpoint {row.name!r} is being deployed by job {row.active_deployment}: one "
            f"deployment at a time. Wait for it ('kiln jobs wait {row.active_deployment}') or "
            f"stop it, which rolls it back ('kiln jobs cancel {row.active_deployment}').",
            code="endpoints.deployment-in-progress",
        )
