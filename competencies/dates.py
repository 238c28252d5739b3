"""Calendar arithmetic, written once for the whole product.

Every period in the product is counted in calendar months or years from a
first day: an override lasts 3 calendar months, a membership term one year,
a retired exam is accepted for one year after its retirement. The rule for a
day that the target month does not have (29, 30 or 31): the month's last day.
So a term bought on 29 February 2028 ends on 28 February 2029, and an
override placed on 30 November ends on 28 (or 29) February.

Every end date is the first day on which the thing no longer holds.
"""

import datetime

from dateutil.relativedelta import relativedelta

ONE_DAY = datetime.timedelta(days=1)


def months_after(day: datetime.date, months: int) -> datetime.date:
    """The same day `months` calendar months later; the month's last day when the month is shorter."""
    return day + relativedelta(months=months)


def years_after(day: datetime.date, years: int = 1) -> datetime.date:
    """The same day `years` years later; 29 February goes to 28 February (the month's last day)."""
    return day + relativedelta(years=years)


def last_day(ends_on: datetime.date) -> datetime.date:
    """The last day something holds, given its end (the first day it no longer holds)."""
    return ends_on - ONE_DAY


# The days a record may name. Nothing this product holds is from before 1990, and no credential, term or
# override runs decades ahead: a date outside (2099, 9999-12-31) is a typo, refused with its line or path.
EARLIEST_DAY = datetime.date(1990, 1, 1)
LATEST_DAY = datetime.date(2069, 12, 31)


def beyond_horizon(day: datetime.date) -> str | None:
    """Why `day` is refused as a record's date (before EARLIEST_DAY or after LATEST_DAY), or None."""
    if EARLIEST_DAY <= day <= LATEST_DAY:
        return None
    return f"is outside {EARLIEST_DAY.isoformat()} to {LATEST_DAY.isoformat()}"
