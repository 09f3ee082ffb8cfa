"""Check invocation bodies against a model signature and turn them into the model's DataFrame.

The signature is the only description of the inputs: it drives these checks, the endpoint's
OpenAPI schema and the error messages. Unseen categories are accepted (the model encodes them as
its "rare / other" group, or as no known category) and reported back as warnings.
"""

from __future__ import annotations

import io
import re
from typing import Any

import numpy as np
import pandas as pd

from kiln.errors import RequestError

_JSON_TYPE = {
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "datetime": "an ISO-8601 date-time string",
}
MAX_WARNINGS = 20


class RequestSchema:
    """Fast checks of request rows against one model signature."""

    def __init__(self, signature: dict):
        self.signature = signature
        self.inputs = signature["inputs"]
        self.columns = [c["name"] for c in self.inputs]
        self.dtypes = {c["name"]: c["dtype"] for c in self.inputs}
        self.categories = {
            c["name"]: set(c["categories"]) for c in self.inputs if "categories" in c
        }
        self.ignored = {c["name"] for c in signature.get("ignored", [])}
        self.allowed = set(self.columns) | self.ignored
        if signature["outputs"].get("target"):
            self.allowed.add(signature["outputs"]["target"])

    # -- JSON -----------------------------------------------------------------------------------
    def records(self, body: Any) -> list:
        """The rows of a JSON body: a list of records, or ``{"instances": [...]}``."""
        if isinstance(body, dict):
            if "instances" not in body:
                keys = ", ".join(map(repr, list(body)[:5]))
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
                f"{type(body).__name__}.",
                code="request.bad-body",
            )
        if not body:
            raise RequestError(
                "The request has no rows (an empty list). Send at least one record.",
                code="request.empty",
            )
        return body

    def frame_from_records(self, records: list) -> tuple[pd.DataFrame, list[str]]:
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
                    f"{type(record).__name__} {str(record)[:60]!r}.",
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
        if dtype == "number":
            for i, v in enumerate(values):
                if v is not None and (type(v) is bool or not isinstance(v, int | float)):
                    raise self._wrong_type(name, v, i)
            return np.array([np.nan if v is None else v for v in values], dtype=float)
        if dtype == "boolean":
            for i, v in enumerate(values):
                if v is not None and type(v) is not bool:
                    raise self._wrong_type(name, v, i)
            return np.array(values, dtype=object)
        for i, v in enumerate(values):
            if v is not None and not isinstance(v, str):
                raise self._wrong_type(name, v, i)
        if dtype == "datetime":
            try:
                return pd.to_datetime(pd.Series(values, dtype=object), format="ISO8601").to_numpy()
            except (ValueError, TypeError) as exc:
                raise RequestError(
                    f"Column {name!r} must hold ISO-8601 date-times (e.g. 2024-05-01T12:00:00): "
                    f"{exc}.",
                    code="request.wrong-type",
                    field=name,
                ) from None
        return np.array(values, dtype=object)

    # -- CSV ------------------------------------------------------------------------------------
    def frame_from_csv(self, data: bytes) -> tuple[pd.DataFrame, list[str]]:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        if not data.strip():
            raise RequestError(
                "The CSV body is empty. Send a header row and at least one row.",
                code="request.empty",
            )
        header = _csv_header(data)
        for name in header:
            if name not in self.allowed:
                raise self._unknown_column(name, None)
        for name in self.columns:
            if name not in header:
                raise RequestError(
                    f"The CSV header has no column {name!r}, which the model needs.",
                    code="request.missing-column",
                    field=name,
                )
        types = arrow_types(self)
        try:
            table = pacsv.read_csv(
                io.BytesIO(data),
                convert_options=pacsv.ConvertOptions(
                    column_types=types, include_columns=self.columns, strings_can_be_null=True
                ),
            )
        except pa.ArrowInvalid as exc:
            message, field = name_csv_column(str(exc), header)
            raise RequestError(
                f"The CSV body does not match the model's inputs: {message}.",
                code="request.wrong-type",
                field=field,
            ) from None
        if table.num_rows == 0:
            raise RequestError("The CSV body has a header but no rows.", code="request.empty")
        frame = table.to_pandas()
        data_columns = {n: frame[n].to_numpy() for n in self.columns}
        return frame, self._unseen(data_columns)

    # -- shared ---------------------------------------------------------------------------------
    def _unseen(self, data: dict[str, np.ndarray]) -> list[str]:
        warnings: list[str] = []
        for name, known in self.categories.items():
            for value in data[name]:
                if value is not None and value == value and value not in known:
                    warnings.append(
                        f"Column {name!r}: value {value!r} was not seen in training; the model "
                        "encodes it as an unknown category (its 'infrequent' group if the column "
                        "has one, else no category)."
                    )
                    if len(warnings) >= MAX_WARNINGS:
                        return warnings
        return warnings

    def _unknown_column(self, key: str, row: int | None) -> RequestError:
        import difflib

        close = difflib.get_close_matches(str(key), self.columns, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        where = f"Row {row} has" if row is not None else "The CSV header has"
        return RequestError(
            f"{where} an unknown column {key!r}.{hint} The model's inputs are: "
            f"{', '.join(self.columns)}.",
            code="request.unknown-column",
            field=str(key),
        )

    def _wrong_type(self, name: str, value: Any, row: int) -> RequestError:
        expected = _JSON_TYPE[self.dtypes[name]]
        if name in self.categories and len(self.categories[name]) <= 10:
            expected += (
                " (one of " + ", ".join(map(repr, sorted(self.categories[name], key=str))) + ")"
            )
        return RequestError(
            f"Column {name!r} in row {row} must be {expected} or null; got "
            f"{type(value).__name__} {value!r}.",
            code="request.wrong-type",
            field=name,
        )

    def json_schema(self) -> dict:
        """JSON Schema of one record, for the endpoint's OpenAPI document."""
        properties = {}
        for spec in self.inputs:
            kind = {
                "number": "number",
                "string": "string",
                "boolean": "boolean",
                "datetime": "string",
            }[spec["dtype"]]
            prop: dict = {"type": [kind, "null"], "description": f"{spec['type']} input"}
            if spec["dtype"] == "datetime":
                prop["format"] = "date-time"
            if "categories" in spec and len(spec["categories"]) <= 100:
                prop["examples"] = spec["categories"][:10]
            properties[spec["name"]] = prop
        return {
            "type": "object",
            "properties": properties,
            "required": self.columns,
            "additionalProperties": False,
        }


def name_csv_column(message: str, header: list[str]) -> tuple[str, str | None]:
    """Replace Arrow's "column #3" in an error message by the column's name."""
    position = re.search(r"column #(\d+)", message)
    if position is None or int(position.group(1)) >= len(header):
        return message, None
    name = header[int(position.group(1))]
    return message.replace(position.group(0), f"column {name!r}"), name


def _csv_header(data: bytes) -> list[str]:
    import csv

    first = data.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").rstrip("\r")
    return next(csv.reader([first]))


def arrow_types(schema: RequestSchema) -> dict:
    """The Arrow type each model input is read as, from CSV or Parquet."""
    import pyarrow as pa

    kinds = {
        "number": pa.float64(),
        "string": pa.string(),
        "boolean": pa.bool_(),
        "datetime": pa.timestamp("us"),
    }
    return {name: kinds[schema.dtypes[name]] for name in schema.columns}
