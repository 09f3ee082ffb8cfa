"""Data profiling: exact column statistics, quality warnings, plots and a quick model.

>>> from kiln.profile import profile
>>> p = profile(frame, target="churn")        # doctest: +SKIP
>>> p.to_dict()["warnings"], p.write_html("profile.html")   # doctest: +SKIP
"""

from kiln.profile._profile import FORMAT, SAMPLE_ROWS, Profile, profile
from kiln.profile._store import DatasetProfile, profile_version, stored_profile, stored_profiles

__all__ = [
    "FORMAT",
    "SAMPLE_ROWS",
    "DatasetProfile",
    "Profile",
    "profile",
    "profile_version",
    "stored_profile",
    "stored_profiles",
]
