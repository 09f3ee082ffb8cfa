"""Text ops: cleaning (lowercase, punctuation, stopwords, stemming) and vectorisers."""

from __future__ import annotations

import re
import string

import numpy as np
import pandas as pd
import scipy.sparse as sp

from kiln.data import NUMERIC
from kiln.recipe import _spec as s
from kiln.recipe._ops._base import Op, performs

__all__ = [
    "TEXT_STATS",
    "LowercaseOp",
    "OsbAnalyzer",
    "RemovePunctuationOp",
    "RemoveStopwordsOp",
    "StemOp",
    "TextStatsOp",
    "VectorizeOp",
]


# --- text ---------------------------------------------------------------------------------

_PUNCTUATION = re.compile(f"[{re.escape(string.punctuation)}]")
_WORD = re.compile(r"(?u)\b\w\w+\b")


class _TextOp(Op):
    def apply(self, frame):
        out = {}
        for c in self.columns:
            column = frame.dense[c]
            text = column.astype(object).where(column.notna())
            out[c] = text.map(self.edit, na_action="ignore").to_numpy(dtype=object)
        frame.put(out, {c: frame.types[c] for c in self.columns})
        return frame


@performs(s.Lowercase)
class LowercaseOp(_TextOp):
    def edit(self, text):
        return str(text).lower()


@performs(s.RemovePunctuation)
class RemovePunctuationOp(_TextOp):
    def edit(self, text):
        return _PUNCTUATION.sub(" ", str(text))


@performs(s.RemoveStopwords)
class RemoveStopwordsOp(_TextOp):
    def fit(self, frame, y):
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        self.words = frozenset(ENGLISH_STOP_WORDS) | {w.lower() for w in self.step.extra}

    def edit(self, text):
        return " ".join(w for w in str(text).split() if w.lower() not in self.words)


@performs(s.Stem)
class StemOp(_TextOp):
    def fit(self, frame, y):
        import snowballstemmer

        if self.step.language not in snowballstemmer.algorithms():
            raise self.error(
                f"no stemmer for language {self.step.language!r}. Available: "
                f"{', '.join(snowballstemmer.algorithms())}.",
                code="recipe.bad-parameter",
            )

    def edit(self, text):
        return " ".join(self._stemmer().stemWords(str(text).split()))

    def _stemmer(self):
        # Snowball stemmers do not pickle: build one per process on first use.
        if getattr(self, "_cached", None) is None:
            import snowballstemmer

            self._cached = snowballstemmer.stemmer(self.step.language)
        return self._cached

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_cached"}


# The text_stats columns: name → what it counts in a text (a share of its characters for the
# ``SHARES``). AutoGluon's text "special features" count much the same.
_COUNTED = {
    "capitals": r"[A-Z]",
    "digits": r"\d",
    "spaces": r"\s",
    "punctuation": f"[{re.escape(string.punctuation)}]",
    "links": r"https?://",
    "mentions": r"@\w",
    "hashtags": r"#\w",
    "exclamations": r"!",
    "questions": r"\?",
    "quotes": r"[\"\u201c\u201d]",
    "periods": r"\.",
    "commas": r",",
    "colons": r":",
    "hyphens": r"-",
    "ampersands": r"&",
    "slashes": r"/",
}
_SHARES = ("capitals", "digits", "spaces", "punctuation")
TEXT_STATS = ("characters", "words", *_COUNTED)


@performs(s.TextStats)
class TextStatsOp(Op):
    def apply(self, frame):
        out = {}
        for c in self.columns:
            column = frame.dense[c]
            text = column.astype(object).where(column.notna()).astype("string")
            length = text.str.len().astype(float)
            out[f"{c}_characters"] = length
            out[f"{c}_words"] = text.str.count(r"\S+").astype(float)
            for stat, pattern in _COUNTED.items():
                count = text.str.count(pattern).astype(float)
                out[f"{c}_{stat}"] = count / length.clip(lower=1) if stat in _SHARES else count
        frame.put({k: v.to_numpy(dtype=float, na_value=np.nan) for k, v in out.items()}, NUMERIC)
        return frame


class OsbAnalyzer:
    """Orthogonal sparse bigrams (not in scikit-learn): each word with each of the next
    ``window - 1`` words, the gap written into the token."""

    def __init__(self, window: int):
        self.window = window

    def __call__(self, text: str) -> list[str]:
        words = _WORD.findall(text.lower())
        return [
            f"{w}_{gap - 1}_{words[i + gap]}"
            for i, w in enumerate(words)
            for gap in range(1, self.window)
            if i + gap < len(words)
        ] or words


@performs(s.BagOfWords, s.Tfidf, s.Osb)
class VectorizeOp(Op):
    def _vectorizer(self):
        from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

        step = self.step
        common = dict(max_features=step.max_features, min_df=step.min_df)
        if isinstance(step, s.BagOfWords):
            return CountVectorizer(ngram_range=(1, step.ngram_max), binary=step.binary, **common)
        if isinstance(step, s.Tfidf):
            return TfidfVectorizer(
                ngram_range=(1, step.ngram_max), sublinear_tf=step.sublinear_tf, **common
            )
        return TfidfVectorizer(analyzer=OsbAnalyzer(step.window), sublinear_tf=True, **common)

    def fit(self, frame, y):
        self.models = {}
        for c in self.columns:
            try:
                self.models[c] = self._vectorizer().fit(_texts(frame.dense[c]))
            except ValueError as exc:  # an empty vocabulary
                raise self.error(f"column {c!r}: {exc}.", column=c) from exc

    def apply(self, frame):
        for c, model in self.models.items():
            names = [f"{c}_{self.step.name}={t}" for t in model.get_feature_names_out()]
            frame.blocks[f"{c}_{self.step.name}"] = (
                names,
                sp.csr_matrix(model.transform(_texts(frame.dense[c])), dtype=float),
            )
        if not self.step.keep:
            frame.drop(self.columns)
        return frame


def _texts(column: pd.Series) -> list[str]:
    return column.astype(object).where(column.notna(), "").astype(str).tolist()
