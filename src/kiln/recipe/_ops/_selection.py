"""Reduction (PCA, truncated SVD) and feature-selection ops."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from kiln.data import NUMERIC
from kiln.recipe import _spec as s
from kiln.recipe._ops._base import Op, performs

__all__ = ["ReduceOp", "SelectOp"]


# --- reduction and selection ----------------------------------------------------------------


class _MatrixOp(Op):
    """Steps over a feature matrix: the selected numeric columns and sparse blocks."""

    def features(self, frame):
        self.no_missing(frame, [c for c in self.columns if c in frame.types])
        return frame.matrix(self.columns)


@performs(s.Pca, s.TruncatedSvd)
class ReduceOp(_MatrixOp):
    def fit(self, frame, y):
        from sklearn.decomposition import PCA, TruncatedSVD

        X, _ = self.features(frame)
        if isinstance(self.step, s.Pca):
            n = self.step.n_components
            n = int(n) if n >= 1 else float(n)
            if isinstance(n, int) and n > min(X.shape):
                raise self.error(
                    f"n_components {n} is more than the {min(X.shape)} the data allow.",
                    code="recipe.bad-parameter",
                )
            X = X.toarray() if sp.issparse(X) else X
            self.model = PCA(n_components=n, random_state=self.context.seed).fit(X)
        else:
            n = min(self.step.n_components, X.shape[1] - 1)
            if n < 1:
                raise self.error(
                    "truncated_svd needs at least 2 input features.", code="recipe.bad-parameter"
                )
            self.model = TruncatedSVD(n_components=n, random_state=self.context.seed).fit(X)

    def apply(self, frame):
        X, _ = self.features(frame)
        if isinstance(self.step, s.Pca) and sp.issparse(X):
            X = X.toarray()
        out = self.model.transform(X)
        names = [f"{self.step.prefix}{i + 1}" for i in range(out.shape[1])]
        frame.drop(self.columns)
        frame.put(pd.DataFrame(out, columns=names), NUMERIC)
        return frame


@performs(s.VarianceThreshold, s.CorrelationFilter, s.SelectMutualInfo, s.SelectByImportance, s.Rfe)
class SelectOp(_MatrixOp):
    """Keeps a subset of the features: dense columns are dropped, sparse blocks sliced."""

    def fit(self, frame, y):
        X, names = self.features(frame)
        self.keep = set(np.asarray(names)[self.support(X, y, names)])

    def support(self, X, y, names) -> np.ndarray:
        step, seed = self.step, self.context.seed
        if isinstance(step, s.VarianceThreshold):
            from sklearn.feature_selection import VarianceThreshold

            return VarianceThreshold(step.threshold).fit(X).get_support()
        if isinstance(step, s.CorrelationFilter):
            with np.errstate(all="ignore"):  # a constant column has no correlation
                r = np.nan_to_num(np.abs(np.corrcoef(X, rowvar=False)))
            keep = np.ones(len(names), bool)
            for j in range(len(names)):
                if keep[j] and j:
                    earlier = np.flatnonzero(keep[:j])
                    if (r[earlier, j] > step.threshold).any():
                        keep[j] = False
            return keep
        k = min(step.k, len(names))
        if isinstance(step, s.SelectMutualInfo):
            from sklearn.feature_selection import mutual_info_classif, mutual_info_regression

            score = mutual_info_classif if self.context.classification else mutual_info_regression
            scores = score(X, y, random_state=seed)
        elif isinstance(step, s.SelectByImportance):
            from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor

            cls = ExtraTreesClassifier if self.context.classification else ExtraTreesRegressor
            scores = cls(n_estimators=100, random_state=seed, n_jobs=-1).fit(X, y)
            scores = scores.feature_importances_
        else:
            from sklearn.feature_selection import RFE
            from sklearn.linear_model import LogisticRegression, Ridge
            from sklearn.preprocessing import StandardScaler

            model = LogisticRegression(max_iter=500) if self.context.classification else Ridge()
            Xs = StandardScaler(with_mean=not sp.issparse(X)).fit_transform(X)
            return RFE(model, n_features_to_select=k, step=step.step_fraction).fit(Xs, y).support_
        keep = np.zeros(len(names), bool)
        keep[np.argsort(-np.asarray(scores), kind="stable")[:k]] = True
        return keep

    def apply(self, frame):
        dropped = [c for c in self.columns if c in frame.types and c not in self.keep]
        frame.drop(dropped)
        for block in [c for c in self.columns if c in frame.blocks]:
            names, matrix = frame.blocks[block]
            kept = [i for i, n in enumerate(names) if n in self.keep]
            frame.blocks[block] = ([names[i] for i in kept], matrix[:, kept])
        return frame
