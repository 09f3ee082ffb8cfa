"""A training script: kiln runs train(run) as a job and registers the model it returns.

    kiln train --script examples/custom/train_churn.py --data churn --target churn --hp C=0.5

``run.data`` holds each --data set version as a DataFrame (by name; ``run.frame()`` is the first),
``run.target`` the --target column, ``run.params`` the --hp values (as text). Log metrics with
``run.log_metric`` and lines with ``run.log``. Return a fitted scikit-learn-compatible model that
reads the data set's columns (here a Pipeline with its own preprocessing); kiln records it with a
signature of those columns, so it deploys, serves and batch-scores like any model.
"""

from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def train(run):
    frame = run.frame()
    features = frame.drop(columns=[run.target, "customerID"], errors="ignore")
    numeric = features.select_dtypes("number").columns.tolist()
    categorical = [c for c in features.columns if c not in numeric]
    model = Pipeline(
        [
            (
                "prepare",
                ColumnTransformer(
                    [
                        ("numeric", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
                        ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
                    ]
                ),
            ),
            ("classify", LogisticRegression(C=float(run.params.get("C", 1.0)), max_iter=500)),
        ]
    )
    X_train, X_test, y_train, y_test = train_test_split(
        features, frame[run.target], test_size=0.25, random_state=0, stratify=frame[run.target]
    )
    model.fit(X_train, y_train)
    positive = list(model.classes_).index(sorted(model.classes_)[-1])
    run.log_metric("test_roc_auc", roc_auc_score(y_test, model.predict_proba(X_test)[:, positive]))
    run.log(f"Fitted on {len(X_train)} rows, tested on {len(X_test)}.")
    return model.fit(features, frame[run.target])  # the model kiln registers: all the rows
