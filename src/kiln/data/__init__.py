"""The data lake: ingest, version, query and split data sets; semantic column types."""

from kiln.data._capture import (
    CAPTURE_FORMATS,
    CAPTURE_PREFIX,
    META_COLUMNS,
    capture_file_name,
    capture_records,
    capture_rows,
    parse_since,
)
from kiln.data._catalog import DataCatalog, DatasetVersion, json_rows, unknown_column
from kiln.data._csv_check import count_body_records, count_records
from kiln.data._read import csv_bytes_to_table, csv_parse_options, sniff_delimiter
from kiln.data._schema import (
    BOOLEAN,
    CATEGORICAL,
    DATETIME,
    FALSE_WORDS,
    IDENTIFIER,
    NUMERIC,
    SEMANTIC_TYPES,
    TEXT,
    TRUE_WORDS,
    infer_schema,
)
from kiln.data._split import check_ratios, is_classification_target, split_frame

__all__ = [
    "BOOLEAN",
    "CAPTURE_FORMATS",
    "CAPTURE_PREFIX",
    "CATEGORICAL",
    "DATETIME",
    "IDENTIFIER",
    "META_COLUMNS",
    "NUMERIC",
    "SEMANTIC_TYPES",
    "TEXT",
    "FALSE_WORDS",
    "TRUE_WORDS",
    "DataCatalog",
    "DatasetVersion",
    "capture_file_name",
    "capture_records",
    "capture_rows",
    "check_ratios",
    "count_body_records",
    "count_records",
    "csv_bytes_to_table",
    "csv_parse_options",
    "infer_schema",
    "is_classification_target",
    "json_rows",
    "parse_since",
    "sniff_delimiter",
    "split_frame",
    "unknown_column",
]
