"""What the test modules share: the days they run on, the pages' clock, and the competency most of them evaluate.

The fixtures built from them (`cloud`, `frozen`, `empty_cache`) are in conftest.py.
"""

import datetime

from django.urls import reverse

from .factories import PASSWORD, build_competency  # noqa: F401 - PASSWORD: the tests import it from here

DAY = datetime.timedelta(days=1)
# The day the evaluation, night, history and alert tests evaluate (their `D`).
D = datetime.date(2026, 11, 20)
# The pages' clock (the `frozen` fixture stops it there) and its day.
NOW = datetime.datetime(2026, 11, 23, 12, tzinfo=datetime.UTC)
TODAY = NOW.date()

CLOUD = "cloud-platform"
AZURE = ["70-533", "70-535"]  # Implementing and Architecting Microsoft Azure solutions


def people(count: int, codes=AZURE, **which) -> dict:
    """A `certified_people` requirement as the catalog file writes it: `count` people holding any of `codes`,
    or as `which` says (`any_of`, `all_of`, `groups`)."""
    return {"kind": "certified_people", "count": count, **(which or {"any_of": list(codes)})}


def cloud_platform(codes=AZURE, *, gold: int = 2):
    """Cloud Platform: Silver with one person holding any of `codes`, Gold with `gold` such people."""
    return build_competency(CLOUD, name="Cloud Platform", silver=[[people(1, codes)]], gold=[[people(gold, codes)]])


def sign_in(client, email, password, *, address="127.0.0.1", url=None):
    """Post the sign-in form (Django's, or the one at `url`) from `address`."""
    return client.post(url or reverse("login"), {"username": email, "password": password}, REMOTE_ADDR=address)
