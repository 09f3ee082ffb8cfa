"""The data lake: ingest, version, query and split data sets."""

from kiln.data._catalog import DataCatalog, DatasetVersion
from kiln.data._schema import SEMANTIC_TYPES

__all__ = ["SEMANTIC_TYPES", "DataCatalog", "DatasetVersion"]
