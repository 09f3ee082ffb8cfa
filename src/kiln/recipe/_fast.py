"""A compiled form of the default recipe for small batches.

A fitted ColumnTransformer spends milliseconds on a one-row pandas DataFrame (column selection,
validation, dtype checks); the trees then answer in microseconds. For endpoints, ``RowEncoder``
reads the fitted recipe's learned state (medians, missing indicators, scaling, the one-hot
encoder's own column for every category, or the code of every category) and builds the model's
input matrix with NumPy directly from the request's columns. It is checked against the fitted
recipe when compiled and used only when both agree; anything it does not know (custom recipes,
datetime parts) keeps the pipeline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer

from kiln.recipe._default import MISSING_CATEGORY, category_text

_UNKNOWN = "\x00kiln-unseen\x00"
# Above this many rows the one-hot block is built with index lookups instead of a Python loop.
VECTOR_ROWS = 16


def _category_key(value) -> str:
    """A raw value's category as the fitted recipe names it: its text, or the missing one."""
    return MISSING_CATEGORY if value is None or value != value else category_text(value)


class RowEncoder:
    """Turns request columns into the estimator's input matrix, like the fitted recipe does."""

    def __init__(self, numeric: list[str], categorical: list[str]):
        self.numeric = numeric
        self.categorical = categorical

    @classmethod
    def compile(cls, preprocessor, probe: pd.DataFrame) -> RowEncoder | None:
        """The encoder for a fitted default recipe, or None when it cannot reproduce it exactly
        on ``probe`` rows."""
        try:
            encoder = cls._build(preprocessor)
            if encoder is None:
                return None
            expected = np.asarray(preprocessor.transform(probe), dtype=float)
            columns = {name: probe[name].to_numpy(dtype=object) for name in probe.columns}
            if np.allclose(encoder.encode(columns), expected, equal_nan=True):
                return encoder
        except (AttributeError, KeyError, TypeError, ValueError, IndexError):
            pass
        return None

    @classmethod
    def _build(cls, preprocessor) -> RowEncoder | None:
        if not isinstance(preprocessor, ColumnTransformer):
            return None
        names = [name for name, _, _ in preprocessor.transformers_ if name != "remainder"]
        if not set(names) <= {"numeric", "categorical"} or preprocessor.sparse_output_:
            return None
        blocks = dict((n, (t, c)) for n, t, c in preprocessor.transformers_ if n != "remainder")
        numeric, categorical = (
            blocks.get("numeric", (None, [])),
            blocks.get("categorical", (None, [])),
        )
        self = cls(list(numeric[1]), list(categorical[1]))
        self.order = names
        if numeric[0] is not None:
            steps = numeric[0].named_steps
            imputer = steps["impute"]
            if np.isnan(imputer.statistics_).any() or set(steps) - {"impute", "scale"}:
                return None
            self.medians = imputer.statistics_.astype(float)
            indicator = getattr(imputer, "indicator_", None)
            self.indicated = indicator.features_ if indicator is not None else np.array([], int)
            scaler = steps.get("scale")
            self.mean = scaler.mean_ if scaler is not None and scaler.with_mean else None
            self.scale = scaler.scale_ if scaler is not None and scaler.with_std else None
        self.codes = None
        if categorical[0] is not None:
            steps = categorical[0].named_steps
            if set(steps) == {"as_text", "codes"}:
                self.codes = cls._code_lookups(steps["codes"])
                self.code_of = [
                    dict(zip(index, codes.tolist(), strict=True)) for index, codes in self.codes
                ]
                self.width = len(self.categorical)
                return self
            if set(steps) != {"as_text", "one_hot"}:
                return None
            one_hot = steps["one_hot"]
            widths = list(one_hot._n_features_outs)
            self.offsets = np.concatenate([[0], np.cumsum(widths)]).astype(int)
            self.width = int(self.offsets[-1])
            self.lookup: list[dict[str, int]] = []
            self.unknown: list[int] = []
            base = [str(c[0]) for c in one_hot.categories_]
            for j, categories in enumerate(one_hot.categories_):
                values = [str(c) for c in categories] + [_UNKNOWN]
                probe = np.array([base] * len(values), dtype=object)
                probe[:, j] = values
                out = one_hot.transform(probe)
                out = out.toarray() if hasattr(out, "toarray") else np.asarray(out)
                block = out[:, self.offsets[j] : self.offsets[j + 1]]
                positions = [int(row.argmax()) if row.any() else -1 for row in block]
                self.lookup.append(dict(zip(values[:-1], positions[:-1], strict=True)))
                self.unknown.append(positions[-1])
            # For large batches: the known values as an index, and each one's column.
            self.indexes = [pd.Index(list(lookup)) for lookup in self.lookup]
            self.positions = [np.array(list(lookup.values()), dtype=int) for lookup in self.lookup]
        return self

    @staticmethod
    def _code_lookups(encoder) -> list[tuple[pd.Index, np.ndarray]]:
        """Per column: its known values and each one's code, read by asking the fitted encoder
        (it groups the rarest values under one code)."""
        lookups = []
        base = [str(c[0]) for c in encoder.categories_]
        for j, categories in enumerate(encoder.categories_):
            values = [str(c) for c in categories]
            probe = np.array([base] * len(values), dtype=object)
            probe[:, j] = values
            codes = np.asarray(encoder.transform(probe), dtype=float)[:, j]
            lookups.append((pd.Index(values), codes))
        return lookups

    def _encode_codes(self, columns: dict[str, np.ndarray], n: int) -> np.ndarray:
        """The code of every row's value (NaN when unseen), each distinct value converted to
        the recipe's text once."""
        block = np.full((n, len(self.categorical)), np.nan)
        for j, name in enumerate(self.categorical):
            index, codes = self.codes[j]
            values = columns[name]
            if n <= VECTOR_ROWS and not hasattr(values, "dictionary_encode"):
                # A request's few rows: a dict lookup each (factorize costs more per call).
                lookup = self.code_of[j]
                for i, value in enumerate(values):
                    block[i, j] = lookup.get(_category_key(value), np.nan)
                continue
            if hasattr(values, "to_numpy") and not isinstance(values, np.ndarray):
                values = values.to_numpy(zero_copy_only=False)  # an Arrow array (batch transform)
            values = np.asarray(values, dtype=object)
            rows, distinct = pd.factorize(values, use_na_sentinel=False)
            if any(isinstance(v, bool | np.bool_) for v in distinct):
                # True == 1 to a hash table: factorize would merge them; the recipe does not.
                rows, distinct = np.arange(n), values
            texts = [_category_key(v) for v in distinct]
            found = index.get_indexer(texts) if texts else np.empty(0, dtype=int)
            per_value = np.where(found >= 0, codes[np.maximum(found, 0)], np.nan)
            block[:, j] = per_value[rows]
        return block

    def encode(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        n = len(next(iter(columns.values())))
        parts = []
        for name in self.order:
            if name == "numeric":
                values = np.column_stack(
                    [np.asarray(columns[c], dtype=float) for c in self.numeric]
                ).reshape(n, len(self.numeric))
                missing = np.isnan(values)
                filled = np.where(missing, self.medians, values)
                block = np.hstack([filled, missing[:, self.indicated].astype(float)])
                if self.mean is not None:
                    block = block - self.mean
                if self.scale is not None:
                    block = block / self.scale
                parts.append(block)
            elif self.codes is not None:
                parts.append(self._encode_codes(columns, n))
            else:
                block = np.zeros((n, self.width))
                for j, name_j in enumerate(self.categorical):
                    if n > VECTOR_ROWS or hasattr(columns[name_j], "dictionary_encode"):
                        self._one_hot_batch(block, j, columns[name_j])
                        continue
                    lookup, unknown, offset = self.lookup[j], self.unknown[j], self.offsets[j]
                    for i, value in enumerate(columns[name_j]):
                        position = lookup.get(_category_key(value), unknown)
                        if position >= 0:
                            block[i, offset + position] = 1.0
                parts.append(block)
        return np.hstack(parts) if len(parts) > 1 else parts[0]

    def _one_hot_batch(self, block: np.ndarray, j: int, values) -> None:
        """Vectorised one-hot of column ``j`` for many rows: each distinct value converted to
        the recipe's text once (a column holds few), then every row by its code. ``values`` is
        an object array or an Arrow array (batch transform: encoded in Arrow, no Python object
        per row)."""
        if hasattr(values, "dictionary_encode"):
            import pyarrow.compute as pc

            if hasattr(values, "combine_chunks"):
                values = values.combine_chunks()
            encoded = values.dictionary_encode()
            codes = pc.fill_null(encoded.indices, -1).to_numpy()
            distinct = encoded.dictionary.to_pylist()
        else:
            codes, distinct = pd.factorize(np.asarray(values, dtype=object))
            if any(isinstance(v, bool | np.bool_) for v in distinct):
                # True == 1 to a hash table: factorize would merge them; the recipe does not.
                self._one_hot_values(block, j, values)
                return
        missing = self.lookup[j].get(MISSING_CATEGORY, self.unknown[j])
        texts = [_category_key(v) for v in distinct]
        found = self.indexes[j].get_indexer(texts) if texts else np.empty(0, dtype=int)
        per_value = np.where(found >= 0, self.positions[j][found], self.unknown[j])
        # Code -1 (missing) reads the last entry: the missing category's column.
        positions = np.append(per_value, missing).astype(int)[codes]
        hit = positions >= 0
        block[np.flatnonzero(hit), self.offsets[j] + positions[hit]] = 1.0

    def _one_hot_values(self, block: np.ndarray, j: int, values) -> None:
        column = pd.Series(values, dtype=object)
        text = column.map(category_text, na_action="ignore").where(column.notna(), MISSING_CATEGORY)
        codes = self.indexes[j].get_indexer(text)
        positions = np.where(codes >= 0, self.positions[j][codes], self.unknown[j])
        hit = positions >= 0
        block[np.flatnonzero(hit), self.offsets[j] + positions[hit]] = 1.0


def finish_signature(preprocessor) -> dict | None:
    """A signature-shaped description of a fitted default recipe's inputs (numbers, and text
    with the categories it learnt), for ``probe_rows`` where there is no model signature."""
    if not isinstance(preprocessor, ColumnTransformer):
        return None
    inputs = []
    for name, transformer, columns in preprocessor.transformers_:
        if name == "numeric":
            inputs += [{"name": c, "dtype": "number"} for c in columns]
        elif name == "categorical":
            steps = transformer.named_steps
            learnt = (steps["codes"] if "codes" in steps else steps["one_hot"]).categories_
            inputs += [
                {"name": c, "dtype": "string", "categories": [str(v) for v in known]}
                for c, known in zip(columns, learnt, strict=True)
            ]
        elif name != "remainder":
            return None
    return {"inputs": inputs}


def probe_rows(signature: dict, preprocessor, rows: int = 24) -> pd.DataFrame:
    """Synthetic rows covering every known category, unseen values and missing values."""
    rng = np.random.default_rng(0)
    data = {}
    for spec in signature["inputs"]:
        if spec["dtype"] == "number":
            values = rng.normal(size=rows) * 10
            values[::5] = np.nan
            data[spec["name"]] = values
        else:
            known = list(spec.get("categories", [])) or ["a"]
            column = [known[i % len(known)] for i in range(rows)]
            column[3] = None
            column[4] = "never-seen-value"
            data[spec["name"]] = pd.Series(column, dtype=object)
    return pd.DataFrame(data)
