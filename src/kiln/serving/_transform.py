"""Batch transform: score a CSV or Parquet file of any size in chunks, memory bounded."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from kiln.algorithms import default_threads
from kiln.compute import executor_for
from kiln.data import count_records, csv_parse_options, sniff_delimiter
from kiln.errors import ConfigError, DataError
from kiln.recipe import RowEncoder, probe_rows
from kiln.serving._validation import RequestSchema, arrow_types, name_csv_column

if TYPE_CHECKING:
    import pyarrow as pa

    from kiln.compute import JobContext
    from kiln.context import Context
    from kiln.serving._validation import RequestSchema

DEFAULT_CHUNK_ROWS = 100_000
_FORMATS = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def _format(path: Path, given: str | None, *, what: str) -> str:
    if given:
        return given
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError(
            f"Cannot tell the format of the {what} file {path} from its name. Use a .csv or "
            ".parquet name.",
            code="transform.unknown-format",
        )
    return fmt


def transform(
    workspace: Context,
    model: str,
    *,
    input: str | os.PathLike,
    output: str | os.PathLike,
    keep: str = "input",
    id_column: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    on_log: Callable[[str], None] | None = None,
):
    """Score ``input`` with model version ``model`` and write ``output``, as a transform job.

    ``keep="input"`` writes every input column beside the predictions, ``keep="id"`` only
    ``id_column``, ``keep="none"`` only the predictions. Returns the completed Job.
    """

    source, target = Path(input).resolve(), Path(output).resolve()
    version = workspace.models.get(model)
    if not source.exists():
        raise DataError(f"No such input file: {source}.", code="data.file-not-found")
    if source == target:
        raise ConfigError(
            "The output file must differ from the input file.", code="transform.same-file"
        )
    if keep not in ("input", "id", "none"):
        raise ConfigError(
            f"keep must be input, id or none; got {keep!r}.", code="transform.bad-keep"
        )
    if keep == "id" and not id_column:
        raise ConfigError("keep='id' needs id_column (--id-column).", code="transform.bad-keep")
    if chunk_rows < 1:
        raise ConfigError(
            f"chunk_rows must be at least 1; got {chunk_rows}.", code="transform.bad-chunk"
        )
    _format(source, None, what="input")
    _format(target, None, what="output")
    _check_output(target)
    spec = {
        "model": version.ref,
        "model_version_id": version.id,
        "input": str(source),
        "output": str(target),
        "keep": keep,
        "id_column": id_column,
        "chunk_rows": int(chunk_rows),
    }
    job = workspace.jobs.create("transform", spec)
    workspace.jobs.add_lineage(job.id, ("model_version", version.id), "input")
    return executor_for(workspace).run(job, on_log=on_log)


def _batches(
    path: Path, fmt: str, schema: RequestSchema, chunk_rows: int
) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if fmt == "parquet":
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=chunk_rows):
            yield batch
        return
    delimiter = sniff_delimiter(path)
    # Arrow's reader lets a quote that is never closed swallow the rest of the file; kiln's own
    # count of records (which refuses such a quote, naming its line) is checked at the end.
    records = count_records(path, delimiter=delimiter, consequence="No output was written.")
    block_size = 8 << 20
    try:
        # Broken rows in this first block are skipped here and reported by the reader below.
        # Arrow infers the type of every other column from this first block, as it does here.
        inferred = pacsv.open_csv(
            path,
            parse_options=csv_parse_options(delimiter, []),
            read_options=pacsv.ReadOptions(block_size=block_size),
        ).schema
    except pa.ArrowInvalid as exc:
        raise DataError(
            f"Cannot read {path} as CSV (delimiter {delimiter!r}): {exc}", code="data.bad-csv"
        ) from None
    header = inferred.names
    types = {n: t for n, t in arrow_types(schema).items() if n in header}
    # A model's number column of whole numbers is read as int64, as Arrow reads the other
    # columns, so that the output keeps the input's types (as from Parquet) and every digit; a
    # decimal past the first block is then a conversion error naming the column and the value.
    for name, kind in types.items():
        if pa.types.is_floating(kind) and pa.types.is_integer(inferred.field(name).type):
            types[name] = pa.int64()
    bad_rows: list = []
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=block_size),
            parse_options=csv_parse_options(delimiter, bad_rows),
            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True),
        )
        batches = iter(reader)
        rows = 0
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                if rows != records.count - 1:
                    raise DataError(
                        f"{path}: kiln counted {records.count - 1} data rows, but the CSV "
                        f"reader read {rows}: quotes merge or split rows somewhere. No output "
                        "was written; check the file's quoting.",
                        code="data.broken-rows",
                    ) from None
                return
            rows += batch.num_rows
            if bad_rows:
                row = bad_rows[0]
                line = row.number or _first_broken_line(path, delimiter)
                raise DataError(
                    f"{path} line {line}: expected {row.expected_columns} fields, found "
                    f"{row.actual_columns}. No output was written; fix the line and run again.",
                    code="data.broken-rows",
                )
            yield batch
    except pa.ArrowInvalid as exc:
        message, column = name_csv_column(str(exc), header)
        raise DataError(
            f"{path}: {message}. No output was written; fix the value and run again.",
            code="data.wrong-type",
            field=column,
        ) from None


def _model_frame(table: pa.Table, schema: RequestSchema):
    """The model's input columns as pandas, numbers as float64 (what the endpoint passes)."""
    import pyarrow as pa

    selected = table.select(schema.columns)
    for position, name in enumerate(schema.columns):
        column = selected.column(position)
        if schema.dtypes[name] == "number" and pa.types.is_integer(column.type):
            selected = selected.set_column(position, name, column.cast(pa.float64()))
    return selected.to_pandas()


def _first_broken_line(path: Path, delimiter: str) -> int | None:
    """The line of the first broken row: Arrow numbers rows only when it parses on one thread,
    so the error (not every transform) pays for a second, serial pass."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    lines: list[int | None] = []

    def stop(row) -> str:
        lines.append(row.number)
        return "error"

    parse = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
    parse.invalid_row_handler = stop
    try:
        for _ in pacsv.open_csv(
            path, read_options=pacsv.ReadOptions(use_threads=False), parse_options=parse
        ):
            pass
    except pa.ArrowInvalid:
        pass
    return lines[0] if lines else None


def _check_output(target: Path) -> None:
    """Refuse an output path that cannot become a file; its missing folders are made."""
    if target.is_dir():
        raise ConfigError(
            f"The output {target} is a folder. Name a file, e.g. {target / 'scored.parquet'}.",
            code="transform.bad-output",
        )
    existing = next((p for p in target.parents if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ConfigError(
            f"Cannot write {target}: {existing} is a file, not a folder.",
            code="transform.bad-output",
        )


def _prefetch(items: Iterator[pa.Table]) -> Iterator[pa.Table]:
    """Produce the next item in a background thread while the caller works on this one."""
    import queue
    import threading

    buffer: queue.Queue = queue.Queue(maxsize=1)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(done)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            buffer.put(exc)

    thread = threading.Thread(target=produce, name="kiln-read", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def _rechunk(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    import pyarrow as pa

    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        while count >= rows:
            # Exactly ``rows`` rows per chunk: the option bounds memory, so it is an upper bound.
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows)
            rest = table.slice(rows)
            pending, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(pending)


def run_transform_job(workspace: Context, context: JobContext, spec: dict) -> dict:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    started = time.perf_counter()
    version = workspace.models.get_by_id(spec["model_version_id"])
    model = workspace.models.load(version)
    # The model keeps the thread count of the machine that trained it; use this one's.
    model.set_threads(default_threads())
    schema = RequestSchema(version.signature)
    encoder = None
    if model.problem_type in ("binary", "multiclass", "regression"):
        encoder = RowEncoder.compile(
            model.pipeline[0], probe_rows(version.signature, model.pipeline[0])
        )
    context.log("Scoring with the " + ("compiled recipe." if encoder else "model's pipeline."))
    source, target = Path(spec["input"]), Path(spec["output"])
    in_fmt, out_fmt = _format(source, None, what="input"), _format(target, None, what="output")
    size = source.stat().st_size
    context.log(f"Scoring {source} ({size / 1e6:.1f} MB) with {version.ref} into {target}.")
    try:
        # A missing output folder is made, as the output file is: the path says where it goes.
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"Cannot create the output folder {target.parent}: {exc.strerror or exc}.",
            code="transform.bad-output",
        ) from None
    tmp = target.with_name(f".{target.name}.{os.getpid()}.partial")
    writer = None
    rows = 0
    total = max(_estimate_rows(source, in_fmt), 1)
    checked = False
    # Arrow reads, parses and writes without holding the GIL: one thread reads the next chunk and
    # one writes the last while this one is scored, so I/O overlaps prediction. Each queue holds
    # at most one chunk, so memory stays bounded.
    io_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kiln-write")
    pending_write = None
    chunks = _prefetch(
        _rechunk(_batches(source, in_fmt, schema, spec["chunk_rows"]), spec["chunk_rows"])
    )
    try:
        for table in chunks:
            if not checked:
                _check_columns(table.column_names, schema, spec, source)
                checked = True
            frame = _model_frame(table, schema)
            if encoder is not None:
                columns = {name: frame[name].to_numpy() for name in schema.columns}
                scores = model.score_encoded(encoder.encode(columns))
                scored = model.table_from_scores(scores, frame.index)
            else:
                scored = model.prediction_table(frame)
            predictions = pa.Table.from_pandas(scored, preserve_index=False)
            if spec["keep"] == "input":
                kept = table
            elif spec["keep"] == "id":
                kept = table.select([spec["id_column"]])
            else:
                kept = None
            out = predictions
            if kept is not None:
                names = [n for n in predictions.column_names if n in kept.column_names]
                renamed = predictions.rename_columns(
                    [f"{n}_" if n in names else n for n in predictions.column_names]
                )
                out = pa.Table.from_arrays(
                    kept.columns + renamed.columns, names=kept.column_names + renamed.column_names
                )
            if writer is None:
                writer = (
                    pq.ParquetWriter(tmp, out.schema)
                    if out_fmt == "parquet"
                    else pacsv.CSVWriter(tmp, out.schema)
                )
            if pending_write is not None:
                pending_write.result()
            pending_write = io_pool.submit(writer.write_table, out)
            rows += table.num_rows
            context.log(f"Progress {min(rows / total, 1.0) * 100:.1f}% ({rows} rows)")
        if writer is None:
            raise DataError(f"{source} has no rows to score.", code="data.empty")
        pending_write.result()
        writer.close()
        writer = None
        os.replace(tmp, target)
    finally:
        chunks.close()
        io_pool.shutdown(wait=True)
        if writer is not None:
            writer.close()
        if tmp.exists():
            tmp.unlink()
    seconds = time.perf_counter() - started
    context.log(
        f"Wrote {rows} predictions to {target} in {seconds:.1f}s ({rows / seconds:,.0f} rows/s)."
    )
    return {"rows": rows, "output": str(target), "seconds": round(seconds, 3), "model": version.ref}


def _estimate_rows(path: Path, fmt: str) -> float:
    """Rows in the file (exact for Parquet; from the first megabyte's line length for CSV)."""
    import pyarrow.parquet as pq

    if fmt == "parquet":
        return pq.ParquetFile(path).metadata.num_rows
    with open(path, "rb") as handle:
        head = handle.read(1 << 20)
    lines = max(head.count(b"\n"), 1)
    return path.stat().st_size / (len(head) / lines) - 1


def _check_columns(columns: list[str], schema: RequestSchema, spec: dict, source: Path) -> None:
    missing = [c for c in schema.columns if c not in columns]
    if missing:
        raise DataError(
            f"{source} lacks column(s) the model needs: {', '.join(missing)}.",
            code="data.missing-column",
            field=missing[0],
        )
    if spec["keep"] == "id" and spec["id_column"] not in columns:
        raise DataError(
            f"{source} has no id column {spec['id_column']!r}.",
            code="data.unknown-column",
            field=spec["id_column"],
        )
