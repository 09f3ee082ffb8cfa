from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
CHURN_CSV = ROOT / "examples" / "churn" / "telco_churn.csv"


def read(path: Path) -> pd.DataFrame:
    """A CSV as kiln ingests it (blank strings missing, numeric text converted)."""
    from kiln.data._read import read_csv

    return read_csv(path).to_pandas()


@pytest.fixture(scope="session")
def churn() -> pd.DataFrame:
    return read(CHURN_CSV)


@pytest.fixture(scope="session")
def housing() -> pd.DataFrame:
    return read(FIXTURES / "housing_prices.csv")


@pytest.fixture(scope="session")
def credit() -> pd.DataFrame:
    return read(FIXTURES / "credit_card_applications.csv")


@pytest.fixture(scope="session")
def churn_profile(churn):
    from kiln.profile import profile

    return profile(churn, target="churn", title="churn")
