"""Functions for the recipe's ``function`` step in tests (importable: tests/ is on the path)."""

import pandas as pd


def charges_per_month(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {"charges_per_month": frame["total_charges"] / frame["tenure"].clip(lower=1)}
    )


def wrong_length(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.head(3)
