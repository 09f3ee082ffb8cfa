"""Data profiling: exact column statistics, quality warnings, plots and a quick model.

>>> from kiln.profile import profile
>>> p = profile(frame, target="churn")        # doctest: +SKIP
>>> p.to_dict()["warnings"], p.write_html("profile.html")   # doctest: +SKIP
"""

from kiln.profile._profile import FORMAT, SAMPLE_ROWS, Profile, profile
from kiln.profile._store import DatasetProfile, profile_version, stored_profile, stored_profiles
from kiln.profile._timeseries import (
    FILL_RULES,
    check_frequency,
    check_grid,
    duplicate_timestamps,
    fill_gaps,
    infer_frequency,
    parse_timestamps,
    season_length,
    series_keys,
    timeseries_profile,
)

__all__ = [
    "FILL_RULES",
    "FORMAT",
    "SAMPLE_ROWS",
    "DatasetProfile",
    "Profile",
    "check_frequency",
    "check_grid",
    "duplicate_timestamps",
    "fill_gaps",
    "infer_frequency",
    "parse_timestamps",
    "profile",
    "profile_version",
    "stored_profile",
    "season_length",
    "series_keys",
    "stored_profiles",
    "timeseries_profile",
]
