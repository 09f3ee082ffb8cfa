"""An endpoint's ``features`` configuration section: the online feature groups whose records
fill each request's rows by record id before prediction (docs/features.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from kiln.errors import ConfigError, NotFound, StateError
from kiln.store import FeatureGroupRow

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["features_config"]


def features_config(workspace: Context, specs: list[str] | str) -> dict:
    """``["customers:tenure,plan", "usage:calls"]`` (or the same as one string separated by
    spaces, or ``"customers:tenure"`` items one by one) as the section stored on the endpoint:
    ``{"groups": [{"group", "record_id", "features"}]}``. Each group must exist, be online and
    have each feature named."""
    if isinstance(specs, str):
        specs = specs.split()
    wanted: dict[str, list[str]] = {}
    for spec in specs:
        group, sep, names = str(spec).partition(":")
        columns = [c.strip() for c in names.split(",") if c.strip()]
        if not sep or not group or not columns:
            raise ConfigError(
                f"Cannot read the endpoint's features {spec!r}: write GROUP:f1,f2 (or GROUP:*), "
                "e.g. 'customers:tenure,monthly_charges'.",
                code="feature.bad-feature",
            )
        wanted.setdefault(group, [])
        wanted[group] += [c for c in columns if c not in wanted[group]]
    if not wanted:
        raise ConfigError(
            "Name at least one feature for the endpoint, e.g. 'customers:tenure'.",
            code="feature.no-features",
        )
    with workspace.store.read() as session:
        rows = {
            r.name: r
            for r in session.scalars(
                select(FeatureGroupRow).where(FeatureGroupRow.name.in_(list(wanted)))
            )
        }
    groups = []
    for group, columns in wanted.items():
        row = rows.get(group)
        if row is None:
            raise NotFound(
                f"No feature group named {group!r} to enrich the endpoint's requests from. See "
                "'kiln features list'.",
                code="feature.unknown-group",
            )
        if not row.online:
            raise StateError(
                f"Feature group {group!r} has no online store, so requests cannot be enriched "
                "from it. Create an online group (--online) and ingest into it.",
                code="feature.not-online",
            )
        features = [c for c in row.schema if c not in (row.record_id, row.event_time)]
        if columns == ["*"]:
            columns = features
        unknown = [c for c in columns if c not in features]
        if unknown:
            raise ConfigError(
                f"Feature group {group!r} has no feature {unknown[0]!r}; its features are "
                f"{', '.join(features)}.",
                code="feature.unknown-feature",
                field=unknown[0],
            )
        groups.append({"group": group, "record_id": row.record_id, "features": columns})
    return {"groups": groups}
