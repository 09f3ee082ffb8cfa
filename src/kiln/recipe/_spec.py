"""The recipe as data: a list of steps, each a pydantic model, parsed from YAML or Python dicts.

A step names the columns it applies to (``columns``): a column name, a list of names, a type
selector (``numeric``, ``categorical``, ``text``, ``datetime``, ``boolean``, ``identifier``,
``features`` for every numeric feature including text vectors, ``all``), or ``{regex: PATTERN}``.
This module only describes and validates; ``_ops`` holds what each step does to data.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kiln.errors import RecipeError

SELECTORS = (
    "numeric",
    "categorical",
    "boolean",
    "text",
    "datetime",
    "identifier",
    "features",
    "all",
)

Columns = str | list[str] | dict[str, str]


class Step(BaseModel):
    """Fields shared by every step."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ClassVar[str]
    group: ClassVar[str]
    example: ClassVar[str]
    # The semantic types the step accepts; explicit columns of another type are an error.
    accepts: ClassVar[tuple[str, ...]] = ("numeric",)
    needs_target: ClassVar[bool] = False
    # Steps that work on sparse text blocks (``COLUMN_tfidf``) as well as on dense columns.
    takes_blocks: ClassVar[bool] = False
    # Steps that change training rows (drop, resample): they run at fit time only.
    training_only: ClassVar[bool] = False
    # Steps that synthesise rows between existing ones (SMOTE): a categorical code interpolated
    # between two categories' codes is no category, so their models keep one-hot columns.
    synthesises_rows: ClassVar[bool] = False
    # The semantic type the step leaves its selected columns with, for planning without data:
    # "same" (unchanged), another type, or None (the columns are consumed, replaced by new ones
    # whose names depend on the data). What the step does to data is its Op (see _ops.performs).
    output_type: ClassVar[str | None] = "same"

    columns: Columns = Field("numeric", description="Columns or selector the step applies to.")

    def describe(self) -> str:
        return self.name


# --- missing values -----------------------------------------------------------------------


class DropMissingRows(Step):
    """Drop training rows with a missing value in the columns (training only: at inference
    rows are never dropped; impute after it for requests with missing values)."""

    name = "drop_missing_rows"
    group = "missing values"
    example = "{step: drop_missing_rows, columns: [total_charges]}"
    accepts = ("numeric", "categorical", "boolean", "text", "datetime", "identifier")
    training_only = True
    columns: Columns = "all"


class DropMissingColumns(Step):
    """Drop the columns whose share of missing training values is above ``threshold``."""

    name = "drop_missing_columns"
    group = "missing values"
    example = "{step: drop_missing_columns, threshold: 0.4}"
    accepts = ("numeric", "categorical", "boolean", "text", "datetime", "identifier")
    columns: Columns = "all"
    threshold: float = Field(0.5, ge=0, le=1, description="Largest missing share kept.")


class Impute(Step):
    """Fill missing values. ``ffill``/``bfill``/``interpolate`` take values from neighbouring rows
    of the same batch, in its order (meant for time-ordered data); what they cannot fill, such as
    a single-row request, gets the training median or mode."""

    name = "impute"
    group = "missing values"
    example = "{step: impute, columns: numeric, strategy: knn, n_neighbors: 5}"
    accepts = ("numeric", "categorical", "boolean", "datetime")
    strategy: Literal[
        "mean",
        "median",
        "most_frequent",
        "constant",
        "ffill",
        "bfill",
        "interpolate",
        "knn",
        "iterative",
    ] = Field("median", description="How to fill.")
    fill_value: float | str | None = Field(
        None, description="For strategy constant: the value (default 0, or 'missing' for text)."
    )
    n_neighbors: int = Field(5, ge=1, description="For knn: neighbours averaged.")
    max_iter: int = Field(10, ge=1, description="For iterative (MICE): rounds.")


class MissingIndicator(Step):
    """Add a 0/1 column ``NAME_missing`` for each column that had missing training values."""

    name = "missing_indicator"
    group = "missing values"
    example = "{step: missing_indicator, columns: [total_charges]}"
    accepts = ("numeric", "categorical", "boolean", "text", "datetime", "identifier")
    columns: Columns = "all"


# --- outliers -----------------------------------------------------------------------------


class Outliers(Step):
    """Detect outliers and treat them. ``zscore``, ``iqr`` and ``percentile`` judge each value
    (``percentile`` with ``treat: clip`` winsorises); the model-based detectors judge whole rows
    on the selected columns."""

    name = "outliers"
    group = "outliers"
    example = "{step: outliers, columns: [monthly_charges], detect: iqr, treat: clip}"
    detect: Literal[
        "zscore",
        "iqr",
        "percentile",
        "isolation_forest",
        "lof",
        "elliptic_envelope",
        "one_class_svm",
        "dbscan",
    ] = Field("iqr", description="Detector.")
    treat: Literal["drop", "clip", "log", "mean", "median"] = Field(
        "clip",
        description=(
            "drop training rows (training only), clip to the inlier range, signed log, or "
            "replace with the inliers' mean or median."
        ),
    )
    threshold: float | None = Field(
        None,
        gt=0,
        description=(
            "zscore: |z| above it (default 3); iqr: k × IQR beyond the quartiles (default 1.5); "
            "percentile: the share cut from each tail (default 0.05)."
        ),
    )
    contamination: float = Field(
        0.05, gt=0, lt=0.5, description="Model-based detectors: expected outlier share."
    )
    eps: float = Field(0.5, gt=0, description="dbscan: neighbourhood radius on scaled values.")
    min_samples: int = Field(5, ge=1, description="dbscan: neighbours of a core point.")


# --- numeric transforms ---------------------------------------------------------------------


class Transform(Step):
    """Apply a function to each value. log, sqrt, Box-Cox refuse training values outside
    their domain (naming the column); at inference such values become missing."""

    name = "transform"
    group = "numeric transforms"
    example = "{step: transform, columns: [total_charges], function: log1p}"
    function: Literal["log", "log1p", "sqrt", "cbrt", "reciprocal", "box_cox", "yeo_johnson"] = (
        Field(..., description="The function.")
    )


class Bin(Step):
    """Replace numbers by the bin they fall in (a categorical column). The outer bins are
    open, so values beyond the training range still get one."""

    name = "bin"
    output_type = "categorical"
    group = "numeric transforms"
    example = "{step: bin, columns: [tenure], method: edges, edges: [12, 24, 48], labels: [new, young, settled, loyal]}"  # noqa: E501
    method: Literal["edges", "quantile", "width"] = Field("quantile", description="Bin edges.")
    bins: int = Field(5, ge=2, description="quantile/width: number of bins.")
    edges: list[float] | None = Field(None, description="edges: inner edges, increasing.")
    labels: list[str] | None = Field(None, description="Bin names (one per bin).")


# --- scaling --------------------------------------------------------------------------------


class Scale(Step):
    """Scale numeric columns (``normalizer`` scales each row to unit length)."""

    name = "scale"
    group = "scaling"
    example = "{step: scale, columns: numeric, method: robust}"
    method: Literal["standard", "minmax", "maxabs", "robust", "normalizer"] = Field(
        "standard", description="Scaler."
    )


# --- categorical encoding -------------------------------------------------------------------


class OneHot(Step):
    """One 0/1 column per value. With more than ``max_categories`` values, the rarest share the
    column ``NAME=other``, and so do unseen values; otherwise unseen values get all zeros."""

    name = "one_hot"
    output_type = None
    group = "categorical encoding"
    example = "{step: one_hot, columns: categorical, max_categories: 10}"
    accepts = ("categorical", "boolean", "identifier")
    columns: Columns = "categorical"
    max_categories: int = Field(20, ge=2, description="Columns per input column at most.")


class Ordinal(Step):
    """Integer codes in an explicit order; values not in the order are missing at inference
    and an error in training data."""

    name = "ordinal"
    output_type = "numeric"
    group = "categorical encoding"
    example = "{step: ordinal, columns: [contract], order: {contract: [Month-to-month, One year, Two year]}}"  # noqa: E501
    accepts = ("categorical", "boolean")
    columns: Columns = "categorical"
    order: dict[str, list[str | int | float | bool]] = Field(
        ..., description="For each column, its values from lowest to highest."
    )


class TargetEncode(Step):
    """Replace each category by the smoothed target mean of its rows. Training rows get
    out-of-fold values (cross-fitting), so a row's own target never encodes it."""

    name = "target_encode"
    output_type = None
    group = "categorical encoding"
    example = "{step: target_encode, columns: [payment_method], smoothing: 10}"
    accepts = ("categorical", "boolean", "identifier")
    needs_target = True
    columns: Columns = "categorical"
    smoothing: float | Literal["auto"] = Field("auto", description="Pull towards the mean.")
    folds: int = Field(5, ge=2, description="Cross-fitting folds.")


class FrequencyEncode(Step):
    """Replace each category by its share of training rows (unseen values: 0)."""

    name = "frequency_encode"
    output_type = None
    group = "categorical encoding"
    example = "{step: frequency_encode, columns: [city]}"
    accepts = ("categorical", "boolean", "identifier")
    columns: Columns = "categorical"


class HashEncode(Step):
    """Hash each value into ``n_features`` signed columns per input column."""

    name = "hash_encode"
    output_type = None
    group = "categorical encoding"
    example = "{step: hash_encode, columns: [zip_code], n_features: 32}"
    accepts = ("categorical", "boolean", "identifier")
    columns: Columns = "categorical"
    n_features: int = Field(16, ge=2, le=4096, description="Columns per input column.")


# --- feature creation -----------------------------------------------------------------------


class Cross(Step):
    """A new categorical column joining the values of two or more categoricals."""

    name = "cross"
    group = "feature creation"
    example = "{step: cross, columns: [contract, internet_service]}"
    accepts = ("categorical", "boolean")
    columns: Columns = Field(..., description="The categoricals to cross (two or more).")


class Polynomial(Step):
    """Products and powers of numeric columns up to ``degree`` (missing stays missing)."""

    name = "polynomial"
    group = "feature creation"
    example = "{step: polynomial, columns: [tenure, monthly_charges], degree: 2}"
    degree: int = Field(2, ge=2, le=4, description="Highest total degree.")
    interaction_only: bool = Field(False, description="Only products of distinct columns.")


class Ratio(Step):
    """``NUM_per_DEN`` for every numerator and denominator pair (division by 0: missing)."""

    name = "ratio"
    group = "feature creation"
    example = "{step: ratio, numerator: [total_charges], denominator: [tenure]}"
    columns: Columns = Field("numeric", description="Unused: name numerator and denominator.")
    numerator: list[str] = Field(..., description="Numerator columns.")
    denominator: list[str] = Field(..., description="Denominator columns.")


class Product(Step):
    """``A_x_B`` for every pair of the columns."""

    name = "product"
    group = "feature creation"
    example = "{step: product, columns: [tenure, monthly_charges]}"
    columns: Columns = Field(..., description="Two or more numeric columns.")


class DatetimeParts(Step):
    """Calendar parts of a datetime column as numbers; the original column is dropped."""

    name = "datetime_parts"
    output_type = None
    group = "feature creation"
    example = "{step: datetime_parts, columns: [signup_date], parts: [year, month, weekend]}"
    accepts = ("datetime",)
    columns: Columns = "datetime"
    parts: list[Literal["year", "month", "day", "day_of_week", "weekend", "hour"]] = Field(
        ["year", "month", "day", "day_of_week", "weekend", "hour"], description="Parts to add."
    )


class TreeLeaves(Step):
    """Fit a small gradient-boosted forest to the target and add, per tree, the leaf each row
    falls in (one-hot): learned interactions for linear models."""

    name = "tree_leaves"
    group = "feature creation"
    example = "{step: tree_leaves, columns: numeric, n_trees: 10, max_depth: 3}"
    needs_target = True
    n_trees: int = Field(10, ge=1, le=200, description="Trees.")
    max_depth: int = Field(3, ge=1, le=8, description="Depth of each tree.")


# --- text ---------------------------------------------------------------------------------


class Lowercase(Step):
    """Lower-case text."""

    name = "lowercase"
    group = "text"
    example = "{step: lowercase, columns: text}"
    accepts = ("text", "categorical")
    columns: Columns = "text"


class RemovePunctuation(Step):
    """Replace punctuation by spaces."""

    name = "remove_punctuation"
    group = "text"
    example = "{step: remove_punctuation, columns: text}"
    accepts = ("text", "categorical")
    columns: Columns = "text"


class RemoveStopwords(Step):
    """Remove English stop words (scikit-learn's list) and any ``extra`` words."""

    name = "remove_stopwords"
    group = "text"
    example = "{step: remove_stopwords, columns: text, extra: [customer]}"
    accepts = ("text",)
    columns: Columns = "text"
    extra: list[str] = Field([], description="More words to remove.")


class Stem(Step):
    """Reduce each word to its stem (Snowball)."""

    name = "stem"
    group = "text"
    example = "{step: stem, columns: text, language: english}"
    accepts = ("text",)
    columns: Columns = "text"
    language: str = Field("english", description="A Snowball stemmer language.")


class TextStats(Step):
    """Numbers that describe each text, as ``COLUMN_STAT`` columns beside it (the text stays for
    the steps after): its length in characters and words, the shares of capitals, digits,
    spaces and punctuation, and counts of links, mentions (@), hashtags (#), exclamation and
    question marks, quotes, periods, commas, colons, hyphens, ampersands and slashes. Style
    that word vectors lose (they lower-case and drop punctuation). A missing text: missing
    values."""

    name = "text_stats"
    group = "text"
    example = "{step: text_stats, columns: [review]}"
    accepts = ("text", "categorical")
    columns: Columns = "text"


class _Vectorizer(Step):
    # A categorical column of many multi-word values (titles, descriptions) is text too.
    accepts = ("text", "categorical")
    columns: Columns = "text"
    max_features: int = Field(10000, ge=1, description="Vocabulary size at most.")
    min_df: int = Field(1, ge=1, description="Ignore terms in fewer training documents.")
    keep: bool = Field(
        False,
        description="Keep the column for the later steps and the default recipe as well "
        "(a categorical column then gets its words and its own encoding).",
    )


class BagOfWords(_Vectorizer):
    """Word (n-gram) counts per text column, as a sparse block."""

    name = "bag_of_words"
    output_type = None
    group = "text"
    example = "{step: bag_of_words, columns: [review], ngram_max: 2}"
    ngram_max: int = Field(1, ge=1, le=5, description="Longest word n-gram.")
    binary: bool = Field(False, description="1 for present instead of counts.")


class Tfidf(_Vectorizer):
    """TF-IDF weights of word n-grams per text column, as a sparse block."""

    name = "tfidf"
    output_type = None
    group = "text"
    example = "{step: tfidf, columns: [review], ngram_max: 2, min_df: 2}"
    ngram_max: int = Field(1, ge=1, le=5, description="Longest word n-gram.")
    sublinear_tf: bool = Field(True, description="1 + log(count) instead of counts.")


class Osb(_Vectorizer):
    """Orthogonal sparse bigrams: each word paired with each of the next ``window - 1`` words,
    with the gap in the token (``a_1_c``), TF-IDF weighted."""

    name = "osb"
    output_type = None
    group = "text"
    example = "{step: osb, columns: [review], window: 4}"
    window: int = Field(4, ge=2, le=10, description="Words per sliding window.")


# --- reduction and selection ----------------------------------------------------------------


class Pca(Step):
    """Replace the columns by their first principal components (``pc1``...)."""

    takes_blocks = True
    name = "pca"
    output_type = None
    group = "reduction and selection"
    example = "{step: pca, columns: numeric, n_components: 0.95}"
    n_components: float = Field(
        0.95, gt=0, description="Components, or below 1: the variance share to keep."
    )
    prefix: str = Field("pc", description="Output column prefix.")


class TruncatedSvd(Step):
    """Replace the columns (typically a text block) by ``n_components`` SVD components."""

    takes_blocks = True
    name = "truncated_svd"
    output_type = None
    group = "reduction and selection"
    example = "{step: truncated_svd, columns: features, n_components: 50}"
    columns: Columns = "features"
    n_components: int = Field(50, ge=1, description="Components.")
    prefix: str = Field("svd", description="Output column prefix.")


class VarianceThreshold(Step):
    """Drop features whose training variance is at most ``threshold``."""

    takes_blocks = True
    name = "variance_threshold"
    group = "reduction and selection"
    example = "{step: variance_threshold, threshold: 0.0}"
    columns: Columns = "features"
    threshold: float = Field(0.0, ge=0, description="Variance kept above.")


class CorrelationFilter(Step):
    """Of each pair with |Pearson r| above ``threshold``, drop the later column."""

    name = "correlation_filter"
    group = "reduction and selection"
    example = "{step: correlation_filter, threshold: 0.9}"
    threshold: float = Field(0.95, gt=0, le=1, description="|r| above which one is dropped.")


class SelectMutualInfo(Step):
    """Keep the ``k`` features with the highest mutual information with the target."""

    takes_blocks = True
    name = "select_mutual_info"
    group = "reduction and selection"
    example = "{step: select_mutual_info, k: 20}"
    needs_target = True
    columns: Columns = "features"
    k: int = Field(20, ge=1, description="Features kept.")


class SelectByImportance(Step):
    """Keep the ``k`` features an extra-trees model finds most important."""

    takes_blocks = True
    name = "select_by_importance"
    group = "reduction and selection"
    example = "{step: select_by_importance, k: 20}"
    needs_target = True
    columns: Columns = "features"
    k: int = Field(20, ge=1, description="Features kept.")


class Rfe(Step):
    """Recursive feature elimination with a linear model down to ``k`` features."""

    takes_blocks = True
    name = "rfe"
    group = "reduction and selection"
    example = "{step: rfe, columns: numeric, k: 10}"
    needs_target = True
    k: int = Field(10, ge=1, description="Features kept.")
    step_fraction: float = Field(0.1, gt=0, lt=1, description="Share removed per round.")


# --- PII ----------------------------------------------------------------------------------


class HashPii(Step):
    """Replace values by a keyed hash token (HMAC-SHA256). The key comes from the ``pii_key``
    setting (or ``KILN_PII_KEY``) when the model runs and is never stored in the model."""

    name = "hash_pii"
    group = "PII"
    example = "{step: hash_pii, columns: [email, phone]}"
    accepts = ("categorical", "boolean", "text", "identifier", "numeric")
    columns: Columns = Field(..., description="The columns holding personal data.")


# --- class imbalance (training rows only) ---------------------------------------------------


class _Resampler(Step):
    accepts = ("numeric", "categorical", "boolean", "text", "datetime", "identifier")
    needs_target = True
    training_only = True
    columns: Columns = Field("features", description="Unused: resampling acts on whole rows.")


class _Balancer(_Resampler):
    ratio: float | None = Field(
        None, gt=0, le=1, description="Minority/majority after; all equal when omitted."
    )


class Oversample(_Balancer):
    """Repeat random minority-class training rows (runs last, on the encoded features)."""

    name = "oversample"
    group = "class imbalance"
    example = "{step: oversample, ratio: 0.5}"


class Undersample(_Balancer):
    """Drop random majority-class training rows (runs last, on the encoded features)."""

    name = "undersample"
    group = "class imbalance"
    example = "{step: undersample, ratio: 0.5}"


class Smote(_Balancer):
    """Synthesize minority-class training rows between neighbours (SMOTE)."""

    name = "smote"
    synthesises_rows = True
    group = "class imbalance"
    example = "{step: smote, k_neighbors: 5}"
    k_neighbors: int = Field(5, ge=1, description="Neighbours to interpolate between.")


class Adasyn(_Resampler):
    """Synthesize minority rows where they are hardest to learn (ADASYN)."""

    name = "adasyn"
    synthesises_rows = True
    group = "class imbalance"
    example = "{step: adasyn, n_neighbors: 5}"
    n_neighbors: int = Field(5, ge=1, description="Neighbours considered.")


class EditedNearestNeighbours(_Resampler):
    """Remove training rows whose neighbours mostly disagree with their class (cleaning)."""

    name = "edited_nearest_neighbours"
    group = "class imbalance"
    example = "{step: edited_nearest_neighbours, n_neighbors: 3}"
    n_neighbors: int = Field(3, ge=1, description="Neighbours that vote.")


# --- other --------------------------------------------------------------------------------


class DropColumns(Step):
    """Drop columns from the features."""

    takes_blocks = True
    name = "drop_columns"
    output_type = None
    group = "other"
    example = "{step: drop_columns, columns: [customer_id]}"
    accepts = ("numeric", "categorical", "boolean", "text", "datetime", "identifier")
    columns: Columns = Field(..., description="Columns to drop.")


class Function(Step):
    """Call your function ``module:name`` with the selected columns as a DataFrame; the
    columns it returns replace them. It must be importable wherever the model runs."""

    name = "function"
    output_type = None
    group = "other"
    example = "{step: function, function: my_features:add_spend_per_month, columns: all}"
    accepts = ("numeric", "categorical", "boolean", "text", "datetime", "identifier")
    columns: Columns = "all"
    function: str = Field(
        ..., description="Import path 'module:name' of f(DataFrame) -> DataFrame."
    )


STEPS: dict[str, type[Step]] = {
    cls.name: cls
    for cls in (
        DropMissingRows,
        DropMissingColumns,
        Impute,
        MissingIndicator,
        Outliers,
        Transform,
        Bin,
        Scale,
        OneHot,
        Ordinal,
        TargetEncode,
        FrequencyEncode,
        HashEncode,
        Cross,
        Polynomial,
        Ratio,
        Product,
        DatetimeParts,
        TreeLeaves,
        Lowercase,
        RemovePunctuation,
        RemoveStopwords,
        Stem,
        TextStats,
        BagOfWords,
        Tfidf,
        Osb,
        Pca,
        TruncatedSvd,
        VarianceThreshold,
        CorrelationFilter,
        SelectMutualInfo,
        SelectByImportance,
        Rfe,
        HashPii,
        Oversample,
        Undersample,
        Smote,
        Adasyn,
        EditedNearestNeighbours,
        DropColumns,
        Function,
    )
}


class Recipe:
    """An ordered, validated list of steps."""

    def __init__(self, steps: list[Step]):
        self.steps = list(steps)

    @classmethod
    def parse(cls, value: Any, *, source: str = "recipe") -> Recipe:
        """A Recipe from a Recipe, a list of step dicts, ``{steps: [...]}``, or a YAML path."""
        if isinstance(value, Recipe):
            return value
        if isinstance(value, str | Path):
            return cls.from_yaml(value)
        return cls._from_data(value, source)

    @classmethod
    def _from_data(cls, value: Any, source: str) -> Recipe:
        if isinstance(value, dict) and set(value) == {"steps"}:
            value = value["steps"]
        if not isinstance(value, list):
            raise RecipeError(
                f"A recipe is a list of steps (or {{steps: [...]}}); {source} holds "
                f"{type(value).__name__}.",
                code="recipe.bad-format",
            )
        return cls([parse_step(item, index, source) for index, item in enumerate(value, 1)])

    @classmethod
    def from_yaml(cls, path: str | Path) -> Recipe:
        import yaml

        path = Path(path)
        if not path.is_file():
            raise RecipeError(
                f"Recipe file {path} does not exist.", code="recipe.not-found", field="recipe"
            )
        try:
            value = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise RecipeError(
                f"Recipe file {path} is not valid YAML: {exc}", code="recipe.bad-format"
            ) from exc
        if value is None:
            raise RecipeError(f"Recipe file {path} is empty.", code="recipe.bad-format")
        return cls._from_data(value, str(path))

    def to_list(self) -> list[dict]:
        return [{"step": s.name, **s.model_dump(mode="json")} for s in self.steps]

    def __len__(self) -> int:
        return len(self.steps)

    def __repr__(self) -> str:
        return f"Recipe({[s.name for s in self.steps]})"


def parse_step(item: Any, index: int, source: str = "recipe") -> Step:
    where = f"Step {index} of {source}"
    if isinstance(item, Step):
        return item
    if not isinstance(item, dict) or "step" not in item:
        raise RecipeError(
            f"{where} must be a mapping with a 'step' key, like "
            f"{{step: impute, columns: numeric}}; got {item!r}.",
            code="recipe.bad-format",
        )
    params = dict(item)
    name = params.pop("step")
    cls = STEPS.get(name)
    if cls is None:
        close = difflib.get_close_matches(str(name), list(STEPS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise RecipeError(
            f"{where}: unknown step {name!r}.{hint} Valid steps: {', '.join(STEPS)}.",
            code="recipe.unknown-step",
            field="step",
        )
    valid = list(cls.model_fields)
    for key in params:
        if key not in cls.model_fields:
            close = difflib.get_close_matches(str(key), valid, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise RecipeError(
                f"{where} ({name}): unknown parameter {key!r}.{hint} "
                f"Valid parameters: {', '.join(valid)}.",
                code="recipe.unknown-parameter",
                field=key,
            )
    try:
        return cls(**params)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']} (got {e.get('input')!r})"
            for e in exc.errors()
        )
        raise RecipeError(f"{where} ({name}): {problems}.", code="recipe.bad-parameter") from None
