"""The outliers op: detect by IQR, z-score, percentiles or isolation forest; clip or drop."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kiln.data import NUMERIC
from kiln.recipe import _spec as s
from kiln.recipe._ops._base import Op, performs

__all__ = ["OutliersOp"]


# --- outliers -----------------------------------------------------------------------------


@performs(s.Outliers)
class OutliersOp(Op):
    """Univariate detectors learn bounds per column; model-based ones learn which rows are
    inliers (on the selected columns, missing values read as the training median)."""

    univariate = ("zscore", "iqr", "percentile")

    def fit(self, frame, y):
        X = frame.numbers(self.columns)
        self.medians = np.nan_to_num(np.nanmedian(X, axis=0)) if len(X) else np.zeros(X.shape[1])
        detect = self.step.detect
        if detect in self.univariate:
            if detect == "zscore":
                t = self.step.threshold or 3.0
                mean, std = np.nanmean(X, axis=0), np.nanstd(X, axis=0)
                self.low, self.high = mean - t * std, mean + t * std
            elif detect == "percentile":
                tail = self.step.threshold or 0.05
                if tail >= 0.5:
                    raise self.error(
                        f"percentile threshold is the share cut from each tail and must be below "
                        f"0.5; got {tail}.",
                        code="recipe.bad-parameter",
                    )
                self.low, self.high = np.nanpercentile(X, [100 * tail, 100 * (1 - tail)], axis=0)
            else:
                k = self.step.threshold or 1.5
                q1, q3 = np.nanpercentile(X, [25, 75], axis=0)
                self.low, self.high = q1 - k * (q3 - q1), q3 + k * (q3 - q1)
            flagged = (self.low > X) | (self.high < X)
        else:
            self.model = self._detector()
            Xs = self._scaled(X, fit=True)
            self.model.fit(Xs)
            flagged = np.repeat(self._outlier_rows(Xs)[:, None], X.shape[1], axis=1)
        inliers = np.where(flagged, np.nan, X)
        self.mean, self.median = np.nanmean(inliers, axis=0), np.nanmedian(inliers, axis=0)
        self.inlier_low, self.inlier_high = np.nanmin(inliers, axis=0), np.nanmax(inliers, axis=0)

    def _detector(self):
        step, seed = self.step, self.context.seed
        if step.detect == "isolation_forest":
            from sklearn.ensemble import IsolationForest

            return IsolationForest(contamination=step.contamination, random_state=seed)
        if step.detect == "lof":
            from sklearn.neighbors import LocalOutlierFactor

            return LocalOutlierFactor(contamination=step.contamination, novelty=True)
        if step.detect == "elliptic_envelope":
            from sklearn.covariance import EllipticEnvelope

            return EllipticEnvelope(contamination=step.contamination, random_state=seed)
        if step.detect == "one_class_svm":
            from sklearn.svm import OneClassSVM

            return OneClassSVM(nu=step.contamination, gamma="scale")
        from sklearn.cluster import DBSCAN

        return DBSCAN(eps=step.eps, min_samples=step.min_samples)

    def _scaled(self, X, *, fit=False):
        X = np.where(np.isnan(X), self.medians, X)
        if fit:
            self.center = X.mean(axis=0)
            self.spread = np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)
        return (X - self.center) / self.spread

    def _outlier_rows(self, Xs) -> np.ndarray:
        if self.step.detect != "dbscan":
            return self.model.predict(Xs) == -1
        # DBSCAN has no predict: a row is an inlier within eps of a core sample.
        from sklearn.neighbors import NearestNeighbors

        if not hasattr(self, "cores"):
            self.cores = Xs[self.model.core_sample_indices_]
        if len(self.cores) == 0:
            return np.ones(len(Xs), bool)
        distance, _ = NearestNeighbors(n_neighbors=1).fit(self.cores).kneighbors(Xs)
        return distance[:, 0] > self.step.eps

    def flags(self, X: np.ndarray) -> np.ndarray:
        if self.step.detect in self.univariate:
            return (self.low > X) | (self.high < X)
        rows = self._outlier_rows(self._scaled(X))
        return np.repeat(rows[:, None], X.shape[1], axis=1)

    def fit_apply(self, frame, y):
        self.fit(frame, y)
        if self.step.treat != "drop":
            return self.apply(frame), y
        keep = ~self.flags(frame.numbers(self.columns)).any(axis=1)
        return frame.take(keep), (y[keep] if y is not None else None)

    def apply(self, frame):
        treat = self.step.treat
        if treat == "drop":
            return frame
        X = frame.numbers(self.columns)
        if treat == "log":
            out = np.sign(X) * np.log1p(np.abs(X))
        elif treat == "clip":
            low, high = (
                (self.low, self.high)
                if self.step.detect in self.univariate
                else (self.inlier_low, self.inlier_high)
            )
            out = np.clip(X, low, high)
        else:
            replacement = self.mean if treat == "mean" else self.median
            out = np.where(self.flags(X), replacement, X)
        frame.put(pd.DataFrame(out, columns=self.columns), NUMERIC)
        return frame
