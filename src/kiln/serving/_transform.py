"""Batch transform: score a CSV or Parquet file of any size in chunks, memory bounded.

Forecasting models have their own path (:func:`_run_forecast_job`): they forecast series, not
rows, so with no input file they write every series' forecast, and an input file names series
or sends their recent history and future covariates (see docs/forecasting.md).
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from kiln.compute import executor_for, run_in_background
from kiln.data import count_records, csv_parse_options, sniff_delimiter
from kiln.errors import ConfigError, DataError
from kiln.problems import FORECASTING
from kiln.serving._validation import RequestSchema, arrow_types, name_csv_column

if TYPE_CHECKING:
    import pyarrow as pa

    from kiln.compute import JobContext
    from kiln.context import Context
    from kiln.serving._validation import RequestSchema

DEFAULT_CHUNK_ROWS = 100_000
# A forecasting transform forecasts this many series at a time, logging progress after each.
FORECAST_CHUNK_SERIES = 1_000
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
    input: str | os.PathLike | None = None,
    output: str | os.PathLike,
    keep: str = "input",
    id_column: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    on_log: Callable[[str], None] | None = None,
    wait: bool = True,
):
    """Score ``input`` with model version ``model`` and write ``output``, as a transform job.

    ``keep="input"`` writes every input column beside the predictions, ``keep="id"`` only
    ``id_column``, ``keep="none"`` only the predictions. Returns the completed Job; with
    ``wait=False``, the Pending job at once, run from a thread (a caller that shows progress,
    such as Studio: its logs say how many rows are scored).

    A forecasting model takes no ``input`` (every series it holds is forecast), or a file of
    series ids, or of history and future covariate rows; it writes one row per series and step.
    """
    version = workspace.models.get(model)
    if version.problem_type == FORECASTING:
        spec = _forecast_spec(version, input, output, keep=keep, id_column=id_column)
        return _start(workspace, version, spec, wait=wait, on_log=on_log)
    if input is None:
        raise ConfigError(
            f"Model {version.ref} ({version.problem_type}) scores rows: name the file to score "
            "with input (--input).",
            code="transform.no-input",
        )
    partitioned = _partitioned_input(input)
    source, target = Path(input).resolve(), Path(output).resolve()
    if partitioned is None and not source.exists():
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
    spec = {
        "model": version.ref,
        "model_version_id": version.id,
        "input": str(source),
        "output": str(target),
        "keep": keep,
        "id_column": id_column,
        "chunk_rows": int(chunk_rows),
    }
    if partitioned is None:
        _format(source, None, what="input")
        _format(target, None, what="output")
        _check_output(target)
    else:
        base, parts = partitioned
        _check_output_folder(target, base)
        spec |= {"input": str(input), "base": str(base), "parts": [str(p) for p in parts]}
    return _start(workspace, version, spec, wait=wait, on_log=on_log)


def _start(workspace: Context, version, spec: dict, *, wait: bool, on_log):
    """The transform job of ``spec``, its model version in its lineage: run to its end, or
    started in the background when not ``wait``."""
    job = workspace.jobs.create("transform", spec)
    workspace.jobs.add_lineage(job.id, ("model_version", version.id), "input")
    if not wait:
        run_in_background(workspace, job)
        return job
    return executor_for(workspace).run(job, on_log=on_log)


def _partitioned_input(input: str | os.PathLike) -> tuple[Path, list[Path]] | None:
    """The base folder and Parquet parts of a partitioned input (a folder, searched below, or
    a glob), or None when ``input`` names one file."""
    text = str(input)
    if glob.has_magic(text):
        parts = sorted(Path(p).resolve() for p in glob.glob(text, recursive=True))
        parts = [p for p in parts if p.is_file()]
        if not parts:
            raise DataError(
                f"No file matches {text!r}. Name a folder of Parquet files, a glob such as "
                "'parts/*.parquet', or one CSV or Parquet file.",
                code="data.file-not-found",
            )
        base = Path(os.path.commonpath([p.parent for p in parts]))
    elif Path(text).is_dir():
        base = Path(text).resolve()
        parts = sorted(p for p in base.rglob("*") if p.is_file() and not p.name.startswith("."))
        parts = [p for p in parts if p.suffix.lower() in (".parquet", ".pq")]
        if not parts:
            raise DataError(
                f"The folder {base} holds no Parquet files (.parquet). A partitioned input is a "
                "folder of Parquet parts; name one file to score a CSV.",
                code="transform.no-parts",
            )
    else:
        return None
    other = [p for p in parts if _FORMATS.get(p.suffix.lower()) != "parquet"]
    if other:
        raise ConfigError(
            f"{other[0]} is not a Parquet file: a partitioned input is Parquet parts only "
            f"({len(other)} of {len(parts)} matched files are not).",
            code="transform.unknown-format",
        )
    return base, parts


def _check_output_folder(target: Path, base: Path) -> None:
    """Refuse an output that cannot be the folder of a partitioned transform's parts."""
    if target.exists() and not target.is_dir():
        raise ConfigError(
            f"The output {target} is a file, but a partitioned input writes a folder of parts "
            "(one per input part). Name a folder.",
            code="transform.bad-output",
        )
    if target == base or base in target.parents:
        raise ConfigError(
            f"The output folder {target} must lie outside the input folder {base}, or a "
            "second run would read its own output as input.",
            code="transform.same-file",
        )


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


class _Scorer:
    """A model version loaded to score Arrow tables as the endpoint would."""

    def __init__(self, workspace: Context, version, *, threads: int | None = None):
        # Here, not at the top: the command that starts a transform imports this module, and
        # needs neither scikit-learn nor the recipe (seconds of its fixed cost).
        from kiln.algorithms import default_threads
        from kiln.compiler import load_compiled
        from kiln.recipe import RowEncoder, probe_rows

        self.version = version
        self.model = workspace.models.load(version)
        # The model keeps the thread count of the machine that trained it; use this one's.
        self.model.set_threads(threads or default_threads())
        self.schema = RequestSchema(version.signature)
        self.encoder = None
        # The version's compiled form (kiln compile) scores first; the pipeline takes a chunk
        # it fails on (counted in ``fallbacks``).
        self.compiled = load_compiled(workspace, version, batch=True)
        self.fallbacks = 0
        if self.compiled is not None:
            self.compiled.set_threads(threads or default_threads())
        if self.model.problem_type in ("binary", "multiclass", "regression"):
            self.encoder = RowEncoder.compile(
                self.model.pipeline[0], probe_rows(version.signature, self.model.pipeline[0])
            )

    def predictions(self, table: pa.Table) -> pa.Table:
        import pyarrow as pa

        if self.compiled is not None:
            scores = self._compiled_scores(table)
            if scores is not None:
                scored = self.model.table_from_scores(scores, pd_range(table.num_rows))
                return pa.Table.from_pandas(scored, preserve_index=False)
        frame = _model_frame(table, self.schema)
        if self.encoder is not None:
            columns = {name: frame[name].to_numpy() for name in self.schema.columns}
            scores = self.model.score_encoded(self.encoder.encode(columns))
            scored = self.model.table_from_scores(scores, frame.index)
        else:
            scored = self.model.prediction_table(frame)
        return pa.Table.from_pandas(scored, preserve_index=False)

    def _compiled_scores(self, table: pa.Table):
        """The compiled form on the chunk's Arrow columns, without pandas: numbers as float64
        arrays, the other columns handed over as Arrow (one-hot coded per distinct value). None
        when it fails: the pipeline then scores the chunk (or raises what the model would)."""
        import pyarrow as pa

        try:
            columns = {}
            for name in self.schema.columns:
                column = table.column(name)
                if self.schema.dtypes[name] == "number":
                    columns[name] = column.cast(pa.float64()).to_numpy()
                else:
                    columns[name] = column
            return self.compiled.score(columns)
        except Exception:  # any failure of the compiled form: the pipeline takes the chunk
            self.fallbacks += 1
            return None


def pd_range(rows: int):
    import pandas as pd

    return pd.RangeIndex(rows)


def run_transform_job(workspace: Context, context: JobContext, spec: dict) -> dict:
    if spec.get("forecasting"):
        return _run_forecast_job(workspace, context, spec)
    if spec.get("parts") is not None:
        return _run_partitioned_job(workspace, context, spec)
    started = time.perf_counter()
    scorer = _Scorer(workspace, workspace.models.get_by_id(spec["model_version_id"]))
    version = scorer.version
    context.log(
        "Scoring with the "
        + (
            f"model's compiled form ({scorer.compiled.target})."
            if scorer.compiled
            else ("compiled recipe." if scorer.encoder else "model's pipeline.")
        )
    )
    source, target = Path(spec["input"]), Path(spec["output"])
    size = source.stat().st_size
    context.log(f"Scoring {source} ({size / 1e6:.1f} MB) with {version.ref} into {target}.")
    total = max(_estimate_rows(source, _format(source, None, what="input")), 1)

    def progress(rows: int) -> None:
        context.log(f"Progress {min(rows / total, 1.0) * 100:.1f}% ({rows} rows)")

    rows = _score_file(scorer, source, target, spec, on_rows=progress)
    seconds = time.perf_counter() - started
    context.log(
        f"Wrote {rows} predictions to {target} in {seconds:.1f}s ({rows / seconds:,.0f} rows/s)."
    )
    if scorer.fallbacks:
        context.log(f"The pipeline scored {scorer.fallbacks} chunk(s) the compiled form failed on.")
    return {"rows": rows, "output": str(target), "seconds": round(seconds, 3), "model": version.ref}


def _score_file(
    scorer: _Scorer,
    source: Path,
    target: Path,
    spec: dict,
    *,
    on_rows: Callable[[int], None] | None = None,
    allow_empty: bool = False,
) -> int:
    """Score ``source`` chunk by chunk into ``target`` (written whole or not at all); returns
    the rows scored. ``on_rows(rows so far)`` after each chunk."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    schema = scorer.schema
    in_fmt, out_fmt = _format(source, None, what="input"), _format(target, None, what="output")
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
            predictions = scorer.predictions(table)
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
            if on_rows is not None:
                on_rows(rows)
        if writer is None:
            if allow_empty:
                return 0
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
    return rows


def _run_partitioned_job(workspace: Context, context: JobContext, spec: dict) -> dict:
    """Score each Parquet part of the input into its own output part, as one task per part on
    the workspace's executor (in parallel on Ray; one after the other locally)."""
    import pyarrow.parquet as pq

    started = time.perf_counter()
    version = workspace.models.get_by_id(spec["model_version_id"])
    base, target = Path(spec["base"]), Path(spec["output"])
    options = {k: spec[k] for k in ("model_version_id", "keep", "id_column", "chunk_rows")}
    items = [
        options | {"input": part, "output": str(_output_part(base, Path(part), target))}
        for part in spec["parts"]
    ]
    total = max(sum(pq.ParquetFile(part).metadata.num_rows for part in spec["parts"]), 1)
    context.log(
        f"Scoring {len(items)} Parquet part(s) of {spec['input']} ({total} rows) with "
        f"{version.ref} into {target}, one task per part."
    )
    done = [0, 0]

    def finished(item: dict, rows: int) -> None:
        done[0] += 1
        done[1] += rows
        context.log(f"Part {done[0]}/{len(items)}: {item['input']} -> {item['output']}.")
        context.log(f"Progress {min(done[1] / total, 1.0) * 100:.1f}% ({done[1]} rows)")

    rows = sum(executor_for(workspace).map(score_part, items, on_result=finished))
    if rows == 0:
        raise DataError(f"{spec['input']} has no rows to score.", code="data.empty")
    seconds = time.perf_counter() - started
    context.log(
        f"Wrote {rows} predictions in {len(items)} part(s) to {target} in {seconds:.1f}s "
        f"({rows / seconds:,.0f} rows/s)."
    )
    return {
        "rows": rows,
        "output": str(target),
        "parts": len(items),
        "seconds": round(seconds, 3),
        "model": version.ref,
    }


# The scorer of the last part a process scored: locally every part is scored in one process,
# and a Ray worker scores part after part, so the model is loaded once per process.
_last_scorer: dict[tuple[str, str], _Scorer] = {}


def score_part(workspace: Context, item: dict) -> int:
    """Score one Parquet part into its output part (a task of a partitioned transform job).

    The output part is named after the input part and replaced whole, so a task run again
    (its worker died) writes the same file once."""
    key = (str(workspace.home), item["model_version_id"])
    scorer = _last_scorer.get(key)
    if scorer is None:
        _last_scorer.clear()
        scorer = _last_scorer[key] = _Scorer(
            workspace, workspace.models.get_by_id(item["model_version_id"]), threads=_task_threads()
        )
    return _score_file(scorer, Path(item["input"]), Path(item["output"]), item, allow_empty=True)


def _task_threads() -> int:
    """The threads a part's task may use: the CPUs Ray gave it (Ray sets OMP_NUM_THREADS to
    them), so parts scored side by side do not each take every core; else this process's."""
    from kiln.algorithms import default_threads

    given = os.environ.get("OMP_NUM_THREADS", "")
    return min(int(given), default_threads()) if given.isdigit() and int(given) > 0 else 0


def _output_part(base: Path, part: Path, target: Path) -> Path:
    """The output part of input part ``part``: the same path below ``target`` as below
    ``base`` (Hive-style folders kept), as Parquet."""
    return (target / part.relative_to(base)).with_suffix(".parquet")


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


# -- forecasting models --------------------------------------------------------------------------
def _forecast_spec(
    version, input: str | os.PathLike | None, output: str | os.PathLike, *, keep: str, id_column
) -> dict:
    """The job spec of a forecasting transform, its options checked."""
    if keep != "input" or id_column:
        raise ConfigError(
            f"Model {version.ref} forecasts series: its output is each series' id columns, "
            "timestamp, step, mean and quantiles, so keep and id_column (--keep, --id-column) "
            "do not apply. Leave them out.",
            code="transform.bad-keep",
        )
    target = Path(output).resolve()
    _format(target, None, what="output")
    _check_output(target)
    source = None
    if input is not None:
        source = Path(input).resolve()
        if not source.is_file():
            raise DataError(
                f"No such input file: {source}. A forecasting model takes one CSV or Parquet "
                "file of series ids (or history and future covariate rows), or none.",
                code="data.file-not-found",
            )
        _format(source, None, what="input")
        if source == target:
            raise ConfigError(
                "The output file must differ from the input file.", code="transform.same-file"
            )
    return {
        "forecasting": True,
        "model": version.ref,
        "model_version_id": version.id,
        "input": str(source) if source is not None else None,
        "output": str(target),
    }


def _run_forecast_job(workspace: Context, context: JobContext, spec: dict) -> dict:
    """Forecast every held series (no input), or the series an input file names or sends the
    history of, and write one row per series and step."""
    import pandas as pd

    started = time.perf_counter()
    version = workspace.models.get_by_id(spec["model_version_id"])
    model = workspace.models.load(version)
    target = Path(spec["output"])
    if spec["input"] is None:
        keys = model.series()
        context.log(f"Forecasting all {len(keys)} series of {version.ref} into {target}.")
        parts, done = [], 0
        for first in range(0, len(keys), FORECAST_CHUNK_SERIES):
            chunk = keys[first : first + FORECAST_CHUNK_SERIES]
            parts.append(model.forecast(chunk))
            for warning in model.forecast_warnings(parts[-1]):
                context.log(warning)
            done += len(chunk)
            context.log(
                f"Progress {done / max(len(keys), 1) * 100:.1f}% "
                f"({sum(len(p) for p in parts)} rows)"
            )
        table = pd.concat(parts, ignore_index=True)
    else:
        source = Path(spec["input"])
        context.log(f"Forecasting the series of {source} with {version.ref} into {target}.")
        frame = _forecast_input(source)
        table = model.prediction_table(frame)
        for warning in model.forecast_warnings(table):
            context.log(warning)
        context.log(f"Progress 100.0% ({len(table)} rows)")
    id_columns = model.spec.id_columns
    if id_columns:  # the id columns name each series; the internal key is left out
        table = table.drop(columns=["series"])
    _write_frame(table, target)
    seconds = time.perf_counter() - started
    series = int(table[id_columns].drop_duplicates().shape[0]) if id_columns else 1
    context.log(
        f"Wrote {len(table)} forecast rows of {series} series to {target} in {seconds:.1f}s."
    )
    return {
        "rows": len(table),
        "series": series,
        "output": str(target),
        "seconds": round(seconds, 3),
        "model": version.ref,
    }


def _forecast_input(source: Path):
    """An input file of a forecasting transform: CSV as text (ids stay as written; the model
    parses timestamps and numbers), or Parquet as stored."""
    import pandas as pd

    if _format(source, None, what="input") == "parquet":
        return pd.read_parquet(source)
    return pd.read_csv(
        source, dtype=str, keep_default_na=False, na_values=[""], sep=sniff_delimiter(source)
    )


def _write_frame(frame, target: Path) -> None:
    """Write ``frame`` whole or not at all (a partial file, then renamed)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        if _format(target, None, what="output") == "parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
