"""The churn pipeline's processing step: the same features added to the train and test splits."""

import pandas as pd


def process(inputs: dict[str, pd.DataFrame], *, long_tenure: int = 24) -> dict[str, pd.DataFrame]:
    """``inputs`` are the data set versions the step names, as DataFrames; each returned frame
    becomes a new data set version (the step's outputs)."""
    return {name: _features(frame, long_tenure) for name, frame in inputs.items()}


def _features(frame: pd.DataFrame, long_tenure: int) -> pd.DataFrame:
    frame = frame.copy()
    frame["total_charges"] = frame["total_charges"].fillna(0.0)
    frame["charges_per_month"] = frame["total_charges"] / frame["tenure"].clip(lower=1)
    frame["long_tenure"] = (frame["tenure"] >= long_tenure).astype(int)
    return frame
