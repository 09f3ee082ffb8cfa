"""Check invocation bodies against a model signature and turn them into the model's DataFrame.

The signature is the only description of the inputs: it drives these checks, the endpoint's
OpenAPI schema and the error messages. Unseen categories are accepted (the model encodes them as
its "rare / other" group, or as no known category) and reported back as warnings.

Every value a message echoes goes through :func:`shown`, so an error body stays small whatever
the request held (a 9 MB key, an array nested a thousand deep).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import reprlib
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from kiln.data import FALSE_WORDS, TRUE_WORDS, count_body_records, csv_parse_options
from kiln.errors import DataError, RequestError

if TYPE_CHECKING:
    # Imported where used: the command that starts a batch transform imports this module.
    import pandas as pd

# Storage types of signature inputs ("dtype"). "temporal" is what a signature recorded before
# dates and times had their own storage type means by a datetime column stored as "string"
# (a date or a time of day, read by Arrow as objects): its text is checked, and passed on as is.
_JSON_TYPE = {
    "number": "a finite number",
    "string": "a string",
    "boolean": "true or false",
    "datetime": "an ISO-8601 date-time string (e.g. 2024-05-01T12:00:00)",
    "date": "an ISO-8601 date string (YYYY-MM-DD)",
    "time": "an ISO-8601 time string (HH:MM or HH:MM:SS)",
    "temporal": "an ISO-8601 date, time or date-time string",
}
_SCHEMA_FORMAT = {"datetime": "date-time", "date": "date", "time": "time"}
_TEMPORAL = ("datetime", "date", "time", "temporal")
MAX_WARNINGS = 20

# Exactly what Arrow's CSV reader takes as a date32 or a time64 (and Python's fromisoformat takes
# more: 20230105, 12:30+01:00), so that JSON and CSV bodies, and batch transform, agree.
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?")

# -- echoing request values -----------------------------------------------------------------------
# reprlib is the standard library's bounded repr: it cuts long strings in the middle and stops at
# a nesting level, so no value (however long or deep) makes a long message or a RecursionError.
_REPR = reprlib.Repr()
_REPR.maxstring, _REPR.maxother, _REPR.maxlong = 50, 50, 40
_REPR.maxlevel, _REPR.maxlist, _REPR.maxtuple, _REPR.maxdict = 2, 4, 4, 3
_FIELD_CHARACTERS, _SHOWN_CHARACTERS = 80, 120


def shown(value: Any, *, quote: bool = True) -> str:
    """A request value as an error or warning echoes it: a bounded ``repr`` (the length of a long
    string added), or with ``quote=False`` the text itself cut to 80 characters, for ``field``."""
    if not quote:
        return cut(value if isinstance(value, str) else _REPR.repr(value), _FIELD_CHARACTERS)
    text = cut(_REPR.repr(value), _SHOWN_CHARACTERS)
    if isinstance(value, str) and len(value) > _REPR.maxstring:
        text += f" ({len(value):,} characters)"
    return text


def cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with "..." when cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


class RequestSchema:
    """Fast checks of request rows against one model signature."""

    def __init__(self, signature: dict):
        self.signature = signature
        self.inputs = signature["inputs"]
        self.columns = [c["name"] for c in self.inputs]
        self.dtypes = {c["name"]: _request_dtype(c) for c in self.inputs}
        self.categories = {
            c["name"]: set(c["categories"]) for c in self.inputs if "categories" in c
        }
        # A boolean column takes JSON true and false whatever its storage type, written as the
        # training data wrote them (yes/no, 1/0, true/false), and words that spell them.
        self.truths = {
            c["name"]: _truth_spellings(c["dtype"], c.get("categories"))
            for c in self.inputs
            if c.get("type") == "boolean" and c["dtype"] in ("string", "number")
        }
        self.ignored = {c["name"] for c in signature.get("ignored", [])}
        self.allowed = set(self.columns) | self.ignored
        if signature["outputs"].get("target"):
            self.allowed.add(signature["outputs"]["target"])

    # -- JSON -----------------------------------------------------------------------------------
    def parse_json(self, body: bytes) -> Any:
        """The parsed body (``orjson.JSONDecodeError`` when it is not JSON); a record that gives
        a key twice is refused (orjson would silently keep the last value)."""
        parsed = orjson.loads(body)
        _refuse_repeated_keys(body, parsed)
        return parsed

    def records(self, body: Any) -> list:
        """The rows of a JSON body: a list of records, or ``{"instances": [...]}``."""
        if isinstance(body, dict):
            if "instances" not in body:
                keys = ", ".join(shown(k) for k in list(body)[:5])
                raise RequestError(
                    f"A JSON object body must have an 'instances' list; got keys {keys}. Send a "
                    'list of records or {"instances": [...]}.',
                    code="request.bad-body",
                    field="instances",
                )
            body = body["instances"]
        if not isinstance(body, list):
            raise RequestError(
                f'The body must be a JSON list of records or {{"instances": [...]}}; got '
                f"{type(body).__name__} {shown(body)}.",
                code="request.bad-body",
            )
        if not body:
            raise RequestError(
                "The request has no rows (an empty list). Send at least one record.",
                code="request.empty",
            )
        return body

    def frame_from_records(self, records: list) -> tuple[pd.DataFrame, list[str]]:
        import pandas as pd

        data, warnings = self.columns_from_records(records)
        return pd.DataFrame(data, copy=False), warnings

    def columns_from_records(self, records: list) -> tuple[dict[str, np.ndarray], list[str]]:
        """The checked input columns of JSON records, and warnings about unseen categories."""
        columns: dict[str, list] = {name: [] for name in self.columns}
        allowed, required = self.allowed, self.columns
        for i, record in enumerate(records):
            if not isinstance(record, dict):
                raise RequestError(
                    f"Row {i} must be a JSON object of column: value; got "
                    f"{type(record).__name__} {shown(record)}.",
                    code="request.bad-row",
                )
            if len(record) != len(required) or not allowed.issuperset(record):
                for key in record:
                    if key not in allowed:
                        raise self._unknown_column(key, i)
            for name in required:
                try:
                    columns[name].append(record[name])
                except KeyError:
                    raise RequestError(
                        f"Row {i} has no column {name!r}, which the model needs. Send it (null "
                        "for missing: the model imputes it).",
                        code="request.missing-column",
                        field=name,
                    ) from None
        data = {name: self._convert(name, values) for name, values in columns.items()}
        return data, self._unseen(data)

    def _convert(self, name: str, values: list) -> np.ndarray:
        dtype = self.dtypes[name]
        truths = self.truths.get(name)
        if truths is not None:
            values = [truths.get(_truth_key(v), v) for v in values]
        if dtype == "number":
            for i, v in enumerate(values):
                if v is not None and (type(v) is bool or not isinstance(v, int | float)):
                    raise self._wrong_type(name, v, i)
            # No check for infinity: orjson refuses it (and 1e400) as malformed JSON, and the
            # check would cost the single-row path more than the rest of this column's work.
            return np.array([np.nan if v is None else v for v in values], dtype=float)
        if dtype == "boolean":
            for i, v in enumerate(values):
                if v is not None and type(v) is not bool:
                    raise self._wrong_type(name, v, i)
            return np.array(values, dtype=object)
        for i, v in enumerate(values):
            if v is not None and not isinstance(v, str):
                raise self._wrong_type(name, v, i)
        if dtype in _TEMPORAL:
            return self._temporal(name, dtype, values)
        return np.array(values, dtype=object)

    def _temporal(self, name: str, dtype: str, values: list, *, csv: bool = False) -> np.ndarray:
        """Dates and times as the training data held them (``datetime.date`` and
        ``datetime.time`` objects, datetime64 for date-times); a legacy column's text as is."""
        if dtype == "datetime":
            import pandas as pd

            for i, v in enumerate(values):
                if v is not None and not v.strip():  # pandas reads "" as NaT: a silent missing
                    raise self._wrong_type(name, v, i, csv=csv)
            given = pd.Series(values, dtype=object)
            try:
                # coerce, then look for what became NaT: one vectorised pass finds the bad row
                moments = pd.to_datetime(given, format="ISO8601", errors="coerce")
            except (ValueError, TypeError, OverflowError):
                raise RequestError(
                    f"Column {name!r} mixes time zone offsets, or date-times with and without "
                    "one. Send them all with the same offset (2024-05-01T12:00:00+02:00) or all "
                    "without.",
                    code="request.wrong-type",
                    field=name,
                ) from None
            bad = np.flatnonzero(moments.isna().to_numpy() & given.notna().to_numpy())
            if len(bad):
                raise self._wrong_type(name, values[bad[0]], int(bad[0]), csv=csv)
            return moments.to_numpy()
        parse = {"date": _parse_date, "time": _parse_time, "temporal": _parse_temporal}[dtype]
        out = np.empty(len(values), dtype=object)
        for i, v in enumerate(values):
            if v is not None:
                parsed = parse(v)
                if parsed is None:
                    raise self._wrong_type(name, v, i, csv=csv)
                out[i] = v if dtype == "temporal" else parsed
        return out

    # -- CSV ------------------------------------------------------------------------------------
    def frame_from_csv(self, data: bytes) -> tuple[pd.DataFrame, list[str]]:
        """The checked input columns of a CSV body with a header row, as a DataFrame, and
        warnings about unseen categories."""
        import pyarrow as pa
        import pyarrow.csv as pacsv

        header = self._csv_header(data)
        try:
            # Arrow lets a quote that is never closed take in the rows after it; kiln's own
            # count of the body's records holds its reading to account.
            records = count_body_records(data)
        except DataError as exc:
            raise RequestError(exc.message, code="request.bad-row") from None
        types = {n: pa.string() if self.dtypes[n] in _TEMPORAL else t for n, t in _arrow(self)}
        bad_rows: list = []
        try:
            table = pacsv.read_csv(
                io.BytesIO(data),
                # One thread: the server runs one per call, and Arrow then numbers the rows in
                # its messages.
                read_options=pacsv.ReadOptions(use_threads=False),
                parse_options=csv_parse_options(",", bad_rows),
                convert_options=pacsv.ConvertOptions(
                    column_types=types, include_columns=self.columns, strings_can_be_null=True
                ),
            )
        except pa.ArrowInvalid as exc:
            raise _csv_error(str(exc), header) from None
        except pa.ArrowException as exc:  # Arrow read the header otherwise than the csv module
            raise RequestError(
                f"The CSV body cannot be read: {cut(str(exc), 200)}.", code="request.bad-body"
            ) from None
        if bad_rows:
            row = bad_rows[0]
            where = f"Row {row.number - 2}" if row.number else "A row"
            raise RequestError(
                f"{where} of the CSV body has {row.actual_columns} field(s); the header has "
                f"{row.expected_columns}: {shown(row.text)}. Quote values that hold a comma.",
                code="request.bad-row",
            )
        if table.num_rows == 0:
            raise RequestError("The CSV body has a header but no rows.", code="request.empty")
        if table.num_rows != records - 1:
            raise RequestError(
                f"The CSV body has {records - 1} rows, but its quotes make {table.num_rows} of "
                "them: check the quoting.",
                code="request.bad-row",
            )
        frame = table.to_pandas()
        for name in self.columns:
            if self.dtypes[name] == "number":
                values = frame[name].to_numpy()
                if np.isinf(values).any():
                    i = int(np.flatnonzero(np.isinf(values))[0])
                    raise self._wrong_type(name, str(values[i]), i, csv=True)
            elif self.dtypes[name] in _TEMPORAL:
                values = table.column(name).to_pylist()
                frame[name] = self._temporal(name, self.dtypes[name], values, csv=True)
            elif self.dtypes[name] == "string" and name in self.truths:
                frame[name] = self._convert(name, frame[name].tolist())
        data_columns = {n: frame[n].to_numpy() for n in self.columns}
        return frame, self._unseen(data_columns)

    def _csv_header(self, data: bytes) -> list[str]:
        """The header row, checked: every column named once, known, and the model's all there."""
        import csv

        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise RequestError(
                f"The CSV body is not UTF-8 text (byte {exc.start}, line {line}). Send it "
                "encoded as UTF-8.",
                code="request.bad-body",
            ) from None
        text = text.removeprefix("\ufeff")
        if not text.strip():
            raise RequestError(
                "The CSV body is empty. Send a header row and at least one row.",
                code="request.empty",
            )
        # The csv module splits lines as Arrow does (\n, \r\n or \r; newlines inside quotes),
        # and reads just the first row; Arrow reads the rest, model columns only.
        try:
            header = next(row for row in csv.reader(io.StringIO(text, newline="")) if row)
        except csv.Error as exc:
            raise RequestError(
                f"The CSV header row cannot be read: {exc}.", code="request.bad-body"
            ) from None
        seen: set[str] = set()
        for position, name in enumerate(header, start=1):
            if not name.strip():
                raise RequestError(
                    f"Column {position} of the CSV header has no name. Name every column.",
                    code="request.unnamed-column",
                )
            if name in seen:
                raise RequestError(
                    f"The CSV header has the column {shown(name)} twice. Send each column once.",
                    code="request.duplicate-column",
                    field=shown(name, quote=False),
                )
            seen.add(name)
            if name not in self.allowed:
                raise self._unknown_column(name, None)
        for name in self.columns:
            if name not in seen:
                raise RequestError(
                    f"The CSV header has no column {name!r}, which the model needs.",
                    code="request.missing-column",
                    field=name,
                )
        return header

    # -- shared ---------------------------------------------------------------------------------
    def _unseen(self, data: dict[str, np.ndarray]) -> list[str]:
        warnings: list[str] = []
        for name, known in self.categories.items():
            for value in data[name]:
                if value is not None and value == value and value not in known:
                    warnings.append(
                        f"Column {name!r}: value {shown(value)} was not seen in training; the "
                        "model encodes it as an unknown category (its 'infrequent' group if the "
                        "column has one, else no category)."
                    )
                    if len(warnings) >= MAX_WARNINGS:
                        return warnings
        return warnings

    def _unknown_column(self, key: str, row: int | None) -> RequestError:
        import difflib

        key = str(key)
        close = difflib.get_close_matches(key, self.columns, n=1) if len(key) <= 200 else []
        hint = f" Did you mean {close[0]!r}?" if close else ""
        where = f"Row {row} has" if row is not None else "The CSV header has"
        return RequestError(
            f"{where} an unknown column {shown(key)}.{hint} The model's inputs are: "
            f"{', '.join(self.columns)}.",
            code="request.unknown-column",
            field=shown(key, quote=False),
        )

    def _wrong_type(self, name: str, value: Any, row: int, *, csv: bool = False) -> RequestError:
        expected = _JSON_TYPE[self.dtypes[name]]
        if name in self.categories and len(self.categories[name]) <= 10:
            expected += (
                " (one of " + ", ".join(map(repr, sorted(self.categories[name], key=str))) + ")"
            )
        got = shown(value) if csv else f"{type(value).__name__} {shown(value)}"
        return RequestError(
            f"Column {name!r} in row {row} must be {expected} or "
            f"{'empty' if csv else 'null'}; got {got}.",
            code="request.wrong-type",
            field=name,
        )

    def json_schema(self) -> dict:
        """JSON Schema of one record, for the endpoint's OpenAPI document."""
        properties = {}
        for spec in self.inputs:
            dtype = self.dtypes[spec["name"]]
            kind = {"number": "number", "boolean": "boolean"}.get(dtype, "string")
            kinds = [kind, "boolean"] if spec["name"] in self.truths else [kind]
            prop: dict = {"type": [*kinds, "null"], "description": f"{spec['type']} input"}
            if dtype in _SCHEMA_FORMAT:
                prop["format"] = _SCHEMA_FORMAT[dtype]
            if "categories" in spec and len(spec["categories"]) <= 100:
                prop["examples"] = spec["categories"][:10]
            properties[spec["name"]] = prop
        return {
            "type": "object",
            "properties": properties,
            "required": self.columns,
            "additionalProperties": False,
        }


_TRUE_WORDS = TRUE_WORDS | {"1"}
_FALSE_WORDS = FALSE_WORDS | {"0"}


def _truth_key(value: Any) -> Any:
    """The key of ``value`` in a boolean column's spellings: the JSON boolean itself, a string
    lower-cased (so "Yes" is "yes"), None for anything else."""
    if type(value) is bool:
        return value
    return value.strip().lower() if isinstance(value, str) else None


def _truth_spellings(dtype: str, categories: list | None) -> dict:
    """For a boolean column stored as text or numbers: JSON true and false, and the words that
    spell them, mapped to the value that the training data used for each."""
    known = list(categories or [])
    spelled = {}
    for truth, words in ((True, _TRUE_WORDS), (False, _FALSE_WORDS)):
        if dtype == "number":
            spelled[truth] = 1 if truth else 0
            continue
        stored = next((c for c in known if isinstance(c, str) and c.lower() in words), None)
        if stored is None:
            continue  # the training data had no spelling of it: the value stays unseen
        spelled[truth] = stored
        spelled.update({word: stored for word in words})
    for category in known:  # a value training saw is itself, whatever words it spells
        if spelled.get(_truth_key(category), category) != category:
            del spelled[_truth_key(category)]
    return spelled


def _request_dtype(spec: dict) -> str:
    if spec["dtype"] == "string" and spec.get("type") == "datetime":
        return "temporal"
    return spec["dtype"]


def _parse_date(text: str) -> dt.date | None:
    if not _DATE.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _parse_time(text: str) -> dt.time | None:
    if not _TIME.fullmatch(text):
        return None
    try:
        return dt.time.fromisoformat(text)
    except ValueError:
        return None


def _parse_datetime(text: str) -> pd.Timestamp | None:
    import pandas as pd

    if not text.strip():
        return None
    try:
        moment = pd.to_datetime(text, format="ISO8601")
    except (ValueError, TypeError, OverflowError):
        return None
    return None if moment is pd.NaT else moment


def _parse_temporal(text: str) -> object | None:
    return _parse_date(text) or _parse_time(text) or _parse_datetime(text)


# -- repeated keys --------------------------------------------------------------------------------
class _Repeated(dict):
    """An object of a JSON body that gives ``key`` more than once (the stdlib parser's view)."""

    key: str


def _object_pairs(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen: set[str] = set()
    repeated = _Repeated(obj)
    repeated.key = next(k for k, _ in pairs if k in seen or seen.add(k))
    return repeated


def _refuse_repeated_keys(body: bytes, parsed: Any) -> None:
    # orjson keeps the last value of a repeated key without a word, and the stdlib parser, which
    # can say (object_pairs_hook), is several times slower. So count first: in JSON text every
    # key is followed by one colon, and any other colon is inside a string, where it is never
    # escaped except as \u003a. A body has no repeated key when its colons are as many as its
    # parsed keys (the usual flat rows: one bytes.count), or as many as the keys and the colons
    # in the strings of the parsed body (orjson writes it back with every colon as is). Only a
    # body that fails both (a repeat, or \u003a escapes) is parsed again, by the stdlib.
    rows = parsed.get("instances") if isinstance(parsed, dict) else parsed
    keys = len(parsed) if isinstance(parsed, dict) else 0
    if isinstance(rows, list):
        keys += sum(len(row) for row in rows if type(row) is dict)
    colons = body.count(b":")
    if colons == keys:
        return
    if b"\\u003" not in body:
        try:
            if colons == orjson.dumps(parsed).count(b":"):
                return
        except orjson.JSONEncodeError:  # nested deeper than orjson writes: count by walking
            if colons == _keys_and_colons(parsed):
                return
    _find_repeated_key(body)


def _keys_and_colons(value: Any) -> int:
    """Keys, and colons in strings, of a parsed JSON value (iteratively: it may nest deep)."""
    total, stack = 0, [value]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            total += len(item) + sum(k.count(":") for k in item)
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)
        elif type(item) is str:
            total += item.count(":")
    return total


def _find_repeated_key(body: bytes) -> None:
    """Refuse a key repeated in a record or in the body's object; a repeat inside a value is
    that value's problem (a record's values are not objects)."""
    import json

    try:
        parsed = json.loads(body, object_pairs_hook=_object_pairs)
    except RecursionError:
        raise RequestError(
            "The body nests arrays or objects too deeply for its keys to be checked. A record "
            "is a flat object of column: value.",
            code="request.bad-body",
        ) from None
    if isinstance(parsed, _Repeated):
        raise RequestError(
            f"The body's object has the key {shown(parsed.key)} twice. Send each key once.",
            code="request.duplicate-column",
            field=shown(parsed.key, quote=False),
        )
    rows = parsed.get("instances") if isinstance(parsed, dict) else parsed
    for i, row in enumerate(rows if isinstance(rows, list) else []):
        if isinstance(row, _Repeated):
            raise RequestError(
                f"Row {i} has the column {shown(row.key)} twice. Send each column once.",
                code="request.duplicate-column",
                field=shown(row.key, quote=False),
            )


# -- Arrow ----------------------------------------------------------------------------------------
def name_csv_column(message: str, header: list[str]) -> tuple[str, str | None]:
    """Replace Arrow's "column #3" in an error message by the column's name."""
    position = re.search(r"column #(\d+)", message)
    if position is None or int(position.group(1)) >= len(header):
        return message, None
    name = header[int(position.group(1))]
    return message.replace(position.group(0), f"column {shown(name)}"), name


def _csv_error(message: str, header: list[str]) -> RequestError:
    """Arrow's error about a CSV body: a value it could not convert, named by column, row and
    (cut short) value, or a body it could not parse."""
    if "Empty CSV" in message:  # Arrow's word for a header without a line end
        return RequestError("The CSV body has a header but no rows.", code="request.empty")
    column = re.search(r"column #(\d+)", message)
    row = re.search(r"Row #(\d+)", message)
    value = re.search(r"invalid value '(.*)'\s*$", message, re.DOTALL)
    conversion = re.search(r"conversion error to (\w+)", message)
    if column and row and value and int(column.group(1)) < len(header):
        name = header[int(column.group(1))]
        expected = {"double": "a finite number", "bool": "true or false"}.get(
            conversion.group(1) if conversion else "", "a valid value"
        )
        return RequestError(
            f"Column {name!r} in row {int(row.group(1)) - 2} must be {expected} or empty; got "
            f"{shown(value.group(1))}.",
            code="request.wrong-type",
            field=name,
        )
    text, name = name_csv_column(message, header)
    if "CSV parse error" in message:
        return RequestError(
            f"The CSV body cannot be read: {cut(text, 200)}.", code="request.bad-body"
        )
    return RequestError(
        f"The CSV body does not match the model's inputs: {cut(text, 200)}.",
        code="request.wrong-type",
        field=name,
    )


def _arrow(schema: RequestSchema) -> list[tuple[str, Any]]:
    import pyarrow as pa

    kinds = {
        "number": pa.float64(),
        "string": pa.string(),
        "boolean": pa.bool_(),
        "datetime": pa.timestamp("us"),
        "date": pa.date32(),
        "time": pa.time64("us"),
        "temporal": pa.string(),
    }
    return [(name, kinds[schema.dtypes[name]]) for name in schema.columns]


def arrow_types(schema: RequestSchema) -> dict:
    """The Arrow type each model input is read as, from CSV or Parquet."""
    return dict(_arrow(schema))
