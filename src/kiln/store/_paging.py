"""Server-side paging: one page of a query's rows, its total, and a checked sort order. Every
list that can grow without bound (jobs, model versions, data set versions, audit events) is read a
page at a time, so a workspace with 100,000 jobs lists as fast as one with ten."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from kiln.errors import ConfigError

T = TypeVar("T")

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50
# The largest offset a database's LIMIT .. OFFSET takes (a signed 64-bit integer): a larger one
# would fail in the driver (a 500) rather than answer an empty page.
MAX_OFFSET = 2**63 - 1 - MAX_PAGE_SIZE
MAX_SEARCH_LENGTH = 500


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: ``items`` from ``offset`` on, of ``total`` in all."""

    items: list[T]
    total: int
    offset: int = 0
    limit: int = DEFAULT_PAGE_SIZE
    sort: str | None = None
    extra: dict = field(default_factory=dict)

    def with_items(self, items: list) -> Page:
        """The same page holding ``items`` instead (rows converted to records)."""
        return replace(self, items=items)

    def to_dict(self, item: Callable[[T], Any] | None = None) -> dict:
        """JSON-ready: items through ``item`` (default: their ``to_dict()``), and the paging."""
        convert = item or (lambda value: value.to_dict())
        return {
            "items": [convert(value) for value in self.items],
            "total": self.total,
            "offset": self.offset,
            "limit": self.limit,
            "sort": self.sort,
            **self.extra,
        }


def check_page(limit: int | None, offset: int | None) -> tuple[int, int]:
    """``(limit, offset)`` checked: a limit of 1 to 500 (default 50) and an offset from 0 to
    :data:`MAX_OFFSET`."""
    limit = DEFAULT_PAGE_SIZE if limit is None else limit
    offset = 0 if offset is None else offset
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise ConfigError(
            f"A page holds 1 to {MAX_PAGE_SIZE} items. Got limit={limit!r}; ask for the next "
            "page with offset instead.",
            code="page.bad-limit",
            field="limit",
        )
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
        raise ConfigError(
            f"A page's offset is a whole number of items from 0 to {MAX_OFFSET}. Got "
            f"offset={offset!r}.",
            code="page.bad-offset",
            field="offset",
        )
    return limit, offset


def sort_order(sort: str | None, columns: Mapping[str, Any], default: str) -> tuple[str, list]:
    """``sort`` (a column name, ``-`` before it for descending) as ORDER BY clauses over
    ``columns`` (name → column), with the first column as the tie-break so pages never overlap;
    an unknown name is refused, naming the known ones."""
    sort = sort or default
    name = sort.removeprefix("-")
    if name not in columns:
        raise ConfigError(
            f"Cannot sort by {name!r}. Sort by one of: {', '.join(columns)} (prefix '-' for "
            "newest or largest first).",
            code="page.bad-sort",
            field="sort",
        )
    column = columns[name]
    tie_break = next(iter(columns.values()))
    clauses = [column.desc() if sort.startswith("-") else column.asc()]
    if column is not tie_break:
        clauses.append(tie_break.asc())
    return sort, clauses


def paged(
    session: Session,
    query: Select,
    *,
    limit: int | None,
    offset: int | None,
    sort: str | None,
    columns: Mapping[str, Any],
    default_sort: str,
) -> Page:
    """One page of ``query``'s rows (ORM rows, not yet converted) in the checked ``sort``."""
    limit, offset = check_page(limit, offset)
    sort, order = sort_order(sort, columns, default_sort)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = list(session.scalars(query.order_by(*order).limit(limit).offset(offset)))
    return Page(items=rows, total=int(total or 0), offset=offset, limit=limit, sort=sort)


def like_pattern(text: str) -> str:
    """A LIKE pattern that finds ``text`` anywhere, its own ``%`` and ``_`` taken literally
    (use with ``escape="\\\\"``). Text past :data:`MAX_SEARCH_LENGTH` characters is refused
    (``page.long-search``): SQLite fails on a pattern past 50,000 bytes, and no name is that
    long."""
    if len(text) > MAX_SEARCH_LENGTH:
        raise ConfigError(
            f"A search text is at most {MAX_SEARCH_LENGTH} characters; got {len(text)}. Search "
            "for a shorter part of the name.",
            code="page.long-search",
            field="q",
        )
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
