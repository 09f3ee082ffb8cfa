"""Exact whole-table statistics through DuckDB, and the seeded uniform sample.

Every statistic here reads all rows, one column (or one streamed batch of numeric columns) at a
time, so memory stays near the size of one column rather than the whole table.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from kiln.data import BOOLEAN, DATETIME, NUMERIC, TRUE_WORDS
from kiln.errors import DataError

# Most frequent values kept per column (categorical bars, near-constant checks).
TOP_VALUES = 10
# Rows per batch when numeric columns are streamed for the correlation matrix.
BATCH_ROWS = 131_072
# |z| above this counts as a z-score outlier; the IQR rule uses Tukey's 1.5 × IQR fences.
Z_OUTLIER = 3.0
IQR_FENCE = 1.5


def clean(value: Any) -> Any:
    """A JSON-ready scalar: numpy types to Python, non-finite floats to None."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bool | int | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _pct(part: float | None, whole: float | None) -> float:
    return round(100.0 * (part or 0) / whole, 4) if whole else 0.0


def _is_true(value: Any) -> bool:
    """A boolean column's value that means true: ``True``, ``1`` or a true word (``"yes"``)."""
    if isinstance(value, str):
        return value.strip().lower() in TRUE_WORDS
    return value is True or value == 1


def _count(value: Any) -> int:
    """A count from DuckDB as an int; ``count_if`` over only NULL inputs gives NULL, which is 0."""
    return int(value) if value is not None else 0


def _is_text_like(kind: pa.DataType) -> bool:
    """Nested (list, struct, map) and binary columns, which are profiled as their text."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return (
        pa.types.is_nested(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_fixed_size_binary(kind)
        or pa.types.is_binary_view(kind)
    )


def _is_zoned(kind: pa.DataType) -> bool:
    return pa.types.is_timestamp(kind) and kind.tz is not None


def _bytes_text(value: bytes) -> str:
    """Bytes as DuckDB casts a BLOB to VARCHAR: printable ASCII kept, other bytes as ``\\xHH``."""
    return "".join(chr(b) if 32 <= b < 127 else f"\\x{b:02X}" for b in value)


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return _bytes_text(bytes(value))
    if isinstance(value, list):
        return "[" + ", ".join("NULL" if v is None else _text(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"'{k}': {'NULL' if v is None else _text(v)}" for k, v in value.items())
        return "{" + items + "}"
    return str(value)


def _for_pandas(table: pa.Table) -> pa.Table:
    """The sample's table with nested and binary columns as text, as the statistics see them."""
    for i, kind in enumerate(table.schema.types):
        if _is_text_like(kind):
            values = [None if v is None else _text(v) for v in table.column(i).to_pylist()]
            table = table.set_column(i, table.field(i).name, pa.array(values, pa.string()))
    return table


def _for_duckdb(table: pa.Table, aliases: list[str]) -> pa.Table:
    """The table as DuckDB scans it: columns renamed to positional aliases (DuckDB binds names
    case-insensitively, so "a" and "A" would be one column) and float16, which DuckDB cannot
    read from Arrow, widened to float32."""
    table = table.rename_columns(aliases)
    for i, kind in enumerate(table.schema.types):
        if pa.types.is_float16(kind):
            table = table.set_column(i, aliases[i], table.column(i).cast(pa.float32()))
    return table


@dataclass
class Source:
    """A table DuckDB can scan: a Parquet file or an in-memory Arrow table."""

    relation: str  # what goes after FROM
    row_count: int
    arrow_types: dict[str, pa.DataType]
    parquet: Path | None = None
    table: pa.Table | None = None
    _connection: Any = None
    # Real column name -> the positional alias (c0, c1, ...) DuckDB knows it by.
    aliases: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.aliases:
            self.aliases = {c: f"c{i}" for i, c in enumerate(self.arrow_types)}

    @classmethod
    def open(cls, data: pa.Table | Path) -> Source:
        if isinstance(data, pa.Table):
            names = data.column_names
            if len(set(names)) < len(names):
                repeated = sorted({c for c in names if names.count(c) > 1})
                raise DataError(
                    f"The table has more than one column named {', '.join(map(repr, repeated))}. "
                    "Give each column a distinct name before profiling.",
                    code="profile.bad-input",
                    field=repeated[0],
                )
            types = dict(zip(names, data.schema.types, strict=True))
            return cls("kiln_profile_table", data.num_rows, types, table=data)
        import pyarrow.parquet as pq

        try:
            metadata = pq.ParquetFile(data)
        except FileNotFoundError:
            raise DataError(
                f"There is no file {str(data)!r} to profile. Check the path, or give a pandas "
                "DataFrame or a pyarrow Table instead.",
                code="profile.bad-input",
            ) from None
        except (OSError, pa.ArrowException) as err:
            raise DataError(
                f"Cannot read {str(data)!r} as a Parquet file ({err}). Give the path of a Parquet "
                "file (convert CSV with pandas.read_csv(...).to_parquet(...)), a pandas DataFrame "
                "or a pyarrow Table.",
                code="profile.bad-input",
            ) from None
        schema = metadata.schema_arrow
        types = dict(zip(schema.names, schema.types, strict=True))
        path = str(data).replace("'", "''")
        relation = f"read_parquet('{path}')"
        if types:
            # Positional aliases: DuckDB binds names case-insensitively ("a" and "A" clash).
            aliases = ", ".join(f"c{i}" for i in range(len(types)))
            relation = f"{relation} AS kiln_profile_table({aliases})"
        return cls(relation, metadata.metadata.num_rows, types, Path(data))

    @property
    def connection(self) -> Any:
        if self._connection is None:
            import duckdb

            self._connection = duckdb.connect(config={"threads": min(os.cpu_count() or 1, 4)})
            # Timestamps with a time zone are shown in UTC (see ``expression``); without the ICU
            # extension DuckDB only knows UTC anyway.
            with contextlib.suppress(duckdb.Error):
                self._connection.execute("SET TimeZone = 'UTC'")
            if self.table is not None:
                aliases = [self.aliases[c] for c in self.table.column_names]
                self._connection.register("kiln_profile_table", _for_duckdb(self.table, aliases))
        return self._connection

    def rows(self, sql: str) -> list[tuple]:
        return self.connection.execute(sql).fetchall()

    def close(self) -> None:
        """Closes the DuckDB connection, which hands its memory back (it reopens when needed)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def quoted(self, column: str) -> str:
        """The column's raw DuckDB identifier (its positional alias), for ``hash`` and the like."""
        return _quote(self.aliases[column])

    def expression(self, column: str) -> str:
        """The column as a SQL expression (valid in SELECT and WHERE) for counting and grouping.

        Floats have NaN and ±inf turned into NULL and decimals are DOUBLE; integers keep their
        type, so IDs above 2**53 stay distinct; booleans are 0/1; timestamps with a time zone are
        plain UTC timestamps (fetching TIMESTAMPTZ values needs pytz); nested and binary columns
        are their text.
        """
        kind = self.arrow_types[column]
        quoted = self.quoted(column)
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if pa.types.is_floating(kind):
            return f"CASE WHEN isfinite({quoted}) THEN CAST({quoted} AS DOUBLE) END"
        if pa.types.is_decimal(kind):
            return f"CAST({quoted} AS DOUBLE)"
        if pa.types.is_boolean(kind):
            return f"CAST({quoted} AS INTEGER)"
        if _is_zoned(kind):
            return f"CAST({quoted} AS TIMESTAMP)"
        if _is_text_like(kind):
            return f"CAST({quoted} AS VARCHAR)"
        return quoted

    def number(self, column: str) -> str:
        """The column as DOUBLE for moments and outlier fences (integers and decimals cast)."""
        kind = self.arrow_types[column]
        if pa.types.is_integer(kind) or pa.types.is_decimal(kind):
            return f"CAST({self.quoted(column)} AS DOUBLE)"
        return self.expression(column)

    def sample(self, rows: int, *, seed: int) -> tuple[pd.DataFrame, np.ndarray | None]:
        """A uniform sample without replacement (in table order), or every row if it fits."""
        if self.row_count <= rows:
            return self._read_all(), None
        index = np.sort(np.random.default_rng(seed).choice(self.row_count, rows, replace=False))
        if self.table is not None:
            return _for_pandas(self.table.take(pa.array(index))).to_pandas(), index
        import pyarrow.parquet as pq

        # One row group at a time, keeping the chosen rows: memory holds one batch, not the table.
        parts, start = [], 0
        for batch in pq.ParquetFile(self.parquet).iter_batches(batch_size=BATCH_ROWS):
            end = start + batch.num_rows
            lo, hi = np.searchsorted(index, [start, end])
            if hi > lo:
                parts.append(batch.take(pa.array(index[lo:hi] - start)))
            start = end
        return _for_pandas(pa.Table.from_batches(parts)).to_pandas(), index

    def _read_all(self) -> pd.DataFrame:
        if self.table is not None:
            return _for_pandas(self.table).to_pandas()
        import pyarrow.parquet as pq

        return _for_pandas(pq.read_table(self.parquet)).to_pandas()


def top_values(source: Source, column: str) -> tuple[list[dict], int]:
    """The most frequent non-missing values with counts, and the number of distinct values."""
    expression = source.expression(column)
    rows = source.rows(
        f"SELECT v, n, count(*) OVER () AS groups, max(CASE WHEN v IS NULL THEN 1 ELSE 0 END) "
        f"OVER () AS has_null FROM (SELECT {expression} AS v, count(*) AS n "
        f"FROM {source.relation} GROUP BY 1) ORDER BY n DESC, v NULLS LAST "
        f"LIMIT {TOP_VALUES + 1}"
    )
    if not rows:
        return [], 0
    groups, has_null = rows[0][2], rows[0][3]
    values = [(v, n) for v, n, *_ in rows if v is not None][:TOP_VALUES]
    kind = source.arrow_types[column]
    if pa.types.is_boolean(kind):
        values = [(bool(v), n) for v, n in values]
    return [{"value": clean(v), "count": int(n)} for v, n in values], _count(groups - has_null)


def column_stats(source: Source, column: str, semantic: str) -> dict:
    """Type, counts, missing and distinct values of one column; moments for numeric ones."""
    n = source.row_count
    values, distinct = top_values(source, column)
    expression = source.expression(column)
    number = source.number(column)
    stats: dict[str, Any] = {
        "type": semantic,
        "dtype": str(source.arrow_types[column]),
    }
    if semantic == NUMERIC:
        (row,) = source.rows(
            f"SELECT count({number}), avg({number}), stddev_samp({number}), "
            f"min({number}), quantile_cont({number}, [0.25, 0.5, 0.75]), "
            f"max({number}), skewness({number}), kurtosis({number}), "
            f"count_if({number} = 0) FROM {source.relation}"
        )
        count, mean, std, low, quartiles, high, skew, kurt, zeros = row
        quartiles = quartiles or [None, None, None]
        stats |= {"count": _count(count)}
        stats |= {
            "mean": clean(mean),
            "std": clean(std),
            "min": clean(low),
            "q1": clean(quartiles[0]),
            "median": clean(quartiles[1]),
            "q3": clean(quartiles[2]),
            "max": clean(high),
            "skewness": clean(skew),
            "kurtosis": clean(kurt),
            "zeros": _count(zeros),
            "zeros_pct": _pct(zeros, count),
        }
    else:
        extra = ""
        if semantic == DATETIME:
            extra = f", min({expression}), max({expression})"
        elif semantic != BOOLEAN and (
            pa.types.is_string(source.arrow_types[column])
            or pa.types.is_large_string(source.arrow_types[column])
        ):
            extra = f", avg(length({expression}))"
        (row,) = source.rows(f"SELECT count({expression}){extra} FROM {source.relation}")
        count = _count(row[0])
        stats |= {"count": count}
        if semantic == DATETIME:
            stats |= {"min": clean(row[1]), "max": clean(row[2])}
        elif len(row) > 1:
            stats |= {"mean_length": clean(row[1])}
    missing = n - stats["count"]
    stats |= {
        "missing": int(missing),
        "missing_pct": _pct(missing, n),
        "distinct": distinct,
        "distinct_pct": _pct(distinct, stats["count"]),
        "top_values": [v | {"pct": _pct(v["count"], stats["count"])} for v in values],
    }
    if semantic == BOOLEAN:
        # How many values are true, whether the column holds booleans or words ("yes"/"no").
        true = next((v for v in values if _is_true(v["value"])), None)
        stats["true"] = true["count"] if true else 0
        stats["true_pct"] = _pct(stats["true"], stats["count"])
        stats["true_value"] = true["value"] if true else True
    # Keep the common keys first, in one order, whatever the type.
    order = ["type", "dtype", "count", "missing", "missing_pct", "distinct", "distinct_pct"]
    return {k: stats[k] for k in order} | {k: v for k, v in stats.items() if k not in order}


def outlier_stats(source: Source, numeric: dict[str, dict]) -> None:
    """Adds z-score and IQR outlier counts and the box-plot whiskers to each numeric column."""
    parts, names = [], []
    for column, stats in numeric.items():
        if stats["std"] in (None, 0) or stats["q1"] is None:
            stats |= {"outliers_z": 0, "outliers_iqr": 0}
            stats |= {"whisker_low": stats["min"], "whisker_high": stats["max"]}
            continue
        x = source.number(column)
        iqr = stats["q3"] - stats["q1"]
        low, high = stats["q1"] - IQR_FENCE * iqr, stats["q3"] + IQR_FENCE * iqr
        parts += [
            f"count_if(abs({x} - {stats['mean']!r}) > {Z_OUTLIER * stats['std']!r})",
            f"count_if({x} < {low!r} OR {x} > {high!r})",
            f"min({x}) FILTER (WHERE {x} >= {low!r})",
            f"max({x}) FILTER (WHERE {x} <= {high!r})",
        ]
        names.append(column)
    if not names:
        return
    (row,) = source.rows(f"SELECT {', '.join(parts)} FROM {source.relation}")
    for i, column in enumerate(names):
        z, iqr_count, whisker_low, whisker_high = row[4 * i : 4 * i + 4]
        numeric[column] |= {
            "outliers_z": _count(z),
            "outliers_iqr": _count(iqr_count),
            "whisker_low": clean(whisker_low),
            "whisker_high": clean(whisker_high),
        }


def duplicate_rows(source: Source) -> int:
    """Rows equal to an earlier row, counted through 64-bit hashes of whole rows."""
    columns = ", ".join(source.quoted(c) for c in source.arrow_types)
    (row,) = source.rows(
        f"SELECT count(*) - count(DISTINCT hash({columns})) FROM {source.relation}"
    )
    return _count(row[0])


def _numeric_batches(source: Source, columns: list[str]) -> Iterator[np.ndarray]:
    """The columns as float64 blocks of at most ``BATCH_ROWS`` rows; missing and ±inf are NaN."""
    import pyarrow.compute as pc

    if source.table is not None:
        batches = source.table.select(columns).to_batches(max_chunksize=BATCH_ROWS)
    else:
        import pyarrow.parquet as pq

        batches = pq.ParquetFile(source.parquet).iter_batches(
            batch_size=BATCH_ROWS, columns=columns
        )
    for batch in batches:
        block = np.column_stack(
            [
                # Unsafe: int64 above 2**53 rounds to the nearest double instead of raising.
                pc.cast(batch.column(i), pa.float64(), safe=False).to_numpy(zero_copy_only=False)
                for i in range(len(columns))
            ]
        )
        block[~np.isfinite(block)] = np.nan
        yield block
    pa.default_memory_pool().release_unused()


def pearson_matrix(source: Source, columns: list[str], means: list[float]) -> np.ndarray:
    """Exact pairwise-complete Pearson correlations over all rows, streamed in batches."""
    centre = np.array([m if m is not None else 0.0 for m in means])
    return _pearson(_numeric_batches(source, columns), len(columns), centre)


def _pearson(blocks: Iterator[np.ndarray], k: int, centre: np.ndarray) -> np.ndarray:
    """Pairwise-complete Pearson correlations of float blocks (NaN = missing).

    Values are centred first (numerically stable); each block adds its masked cross-products,
    so memory holds one block at a time.
    """
    if k == 0:
        return np.zeros((0, 0))
    from threadpoolctl import threadpool_limits

    sums = {name: np.zeros((k, k)) for name in ("n", "x", "y", "xx", "yy", "xy")}
    # One BLAS thread: these tall, thin products are memory-bound, and OpenBLAS's thread pool
    # with passive waiting (OMP_WAIT_POLICY=PASSIVE, which kiln sets) made them 20-40x slower.
    with threadpool_limits(1, user_api="blas"):
        _accumulate(blocks, centre, sums)
    n = sums["n"]
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sums["xy"] - sums["x"] * sums["y"] / n
        var_x = sums["xx"] - sums["x"] ** 2 / n
        var_y = sums["yy"] - sums["y"] ** 2 / n
        matrix = cov / np.sqrt(var_x * var_y)
    matrix[(n < 3) | (var_x <= 1e-12 * np.maximum(sums["xx"], 1)) | (var_y <= 0)] = np.nan
    np.fill_diagonal(matrix, 1.0)
    return np.clip(matrix, -1.0, 1.0)


def _accumulate(blocks: Iterator[np.ndarray], centre: np.ndarray, sums: dict) -> None:
    for block in blocks:
        present = ~np.isnan(block)
        mask = present.astype(np.float64)
        values = np.where(present, block - centre, 0.0)
        squares = values * values
        sums["n"] += mask.T @ mask
        sums["x"] += values.T @ mask  # sum of x_i over rows where x_j is present
        sums["y"] += mask.T @ values
        sums["xx"] += squares.T @ mask
        sums["yy"] += mask.T @ squares
        sums["xy"] += values.T @ values


def spearman_matrix(sample: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Spearman correlations on the sample: Pearson correlations of the columns' ranks.

    Each column is ranked once over its non-missing values (ties get their average rank), so
    with missing values a pair's ρ can differ slightly from re-ranking that pair's complete rows.
    """
    if not columns:
        return np.zeros((0, 0))
    ranks = sample[columns].apply(pd.to_numeric, errors="coerce").astype("float64").rank()
    block = ranks.to_numpy(copy=True)
    block[~np.isfinite(block)] = np.nan
    centre = np.nan_to_num(np.nanmean(block, axis=0)) if len(block) else np.zeros(len(columns))
    return _pearson(iter([block]), len(columns), centre)


def cramers_v_matrix(sample: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Bias-corrected Cramér's V (Bergsma 2013) between categorical columns, on the sample;
    missing values count as a category of their own.

    Computed here from contingency counts: ``scipy.stats.contingency.association`` would cost a
    ``scipy.stats`` import (about a second) for a few lines of arithmetic.
    """
    codes = []
    for column in columns:
        values, _ = pd.factorize(sample[column], use_na_sentinel=False)
        codes.append((values, int(values.max()) + 1 if len(values) else 0))
    n = len(sample)
    out = np.eye(len(columns))
    for i in range(len(columns)):
        for j in range(i + 1, len(columns)):
            (a, ka), (b, kb) = codes[i], codes[j]
            value = np.nan
            if n > 1 and ka > 1 and kb > 1:
                table = np.bincount(a * kb + b, minlength=ka * kb).reshape(ka, kb).astype(float)
                expected = table.sum(1, keepdims=True) @ table.sum(0, keepdims=True) / n
                chi2 = ((table - expected) ** 2 / np.where(expected > 0, expected, 1)).sum()
                phi2 = max(0.0, chi2 / n - (ka - 1) * (kb - 1) / (n - 1))
                rows = ka - (ka - 1) ** 2 / (n - 1)
                cols = kb - (kb - 1) ** 2 / (n - 1)
                denominator = min(rows - 1, cols - 1)
                value = np.sqrt(phi2 / denominator) if denominator > 0 else np.nan
            out[i, j] = out[j, i] = value
    return out
