import pendulum
import pytest

from tap_daktela.dates import LocalTimeConverter, ceil_to_second, parse_date_setting, to_daktela
from tap_daktela.errors import DaktelaConfigError

TZ = "Europe/Prague"
NOW = pendulum.datetime(2024, 7, 15, 13, 45, 10, tz=TZ)


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("now", "2024-07-15 13:45:10"),
        ("today", "2024-07-15 00:00:00"),
        ("Yesterday", "2024-07-14 00:00:00"),
        ("1 day ago", "2024-07-14 13:45:10"),
        ("7 days ago", "2024-07-08 13:45:10"),
        ("2 weeks ago", "2024-07-01 13:45:10"),
        ("3 hours ago", "2024-07-15 10:45:10"),
        ("30 minutes ago", "2024-07-15 13:15:10"),
        ("1 month ago", "2024-06-15 13:45:10"),
        ("2 years ago", "2022-07-15 13:45:10"),
        ("2024-01-31", "2024-01-31 00:00:00"),
        ("2024-01-31T10:00:00", "2024-01-31 10:00:00"),
        ("2024-01-31 10:00:00", "2024-01-31 10:00:00"),
        ("2024-01-31T10:00:00Z", "2024-01-31 11:00:00"),
        ("2024-07-01T10:00:00+00:00", "2024-07-01 12:00:00"),
    ],
)
def test_date_phrases_are_read_in_the_instance_zone(phrase, expected):
    assert to_daktela(parse_date_setting(phrase, setting="start_date", tz=TZ, now=NOW), TZ) == expected


@pytest.mark.parametrize("bad", ["garbage", "tomorrowish", "5 fortnights ago", "2024-13-45", ""])
def test_bad_date_names_the_setting_and_the_value(bad):
    with pytest.raises(DaktelaConfigError) as error:
        parse_date_setting(bad, setting="end_date", tz=TZ, now=NOW)
    assert str(error.value).startswith(f"end_date {bad!r} is not a date")


def test_today_is_midnight_of_the_instance_zone_not_utc():
    late_utc_evening = pendulum.datetime(2024, 7, 15, 23, 30, tz="UTC")  # already the 16th in Prague
    today = parse_date_setting("today", setting="s", tz=TZ, now=late_utc_evening)
    assert to_daktela(today, TZ) == "2024-07-16 00:00:00"


@pytest.mark.parametrize(
    ("naive", "iso"),
    [
        ("2024-04-12 14:39:42", "2024-04-12T14:39:42+02:00"),
        ("2024-01-05 08:00:00", "2024-01-05T08:00:00+01:00"),
        ("2024-03-31 01:59:59", "2024-03-31T01:59:59+01:00"),
        ("2024-03-31 03:00:00", "2024-03-31T03:00:00+02:00"),
        ("2024-10-27 02:30:00", "2024-10-27T02:30:00+02:00"),  # the repeated hour: summer time taken
        ("2024-10-27 03:00:00", "2024-10-27T03:00:00+01:00"),
    ],
)
def test_naive_datetimes_get_the_offset_of_their_moment(naive, iso):
    assert LocalTimeConverter(TZ)(naive) == iso


def test_empty_and_zero_datetimes_become_null_and_non_strings_pass():
    convert = LocalTimeConverter(TZ)
    assert convert("") is None
    assert convert("0000-00-00 00:00:00") is None
    assert convert(None) is None
    assert convert(5) == 5


@pytest.mark.parametrize(
    ("end", "sent"),
    [
        ("2024-04-12T14:39:42.700+02:00", "2024-04-12 14:39:43"),  # records stamped 14:39:42 came before the end
        ("2024-04-12T14:39:42+02:00", "2024-04-12 14:39:42"),  # a whole second stays as it is
        ("2024-04-12T23:59:59.5+02:00", "2024-04-13 00:00:00"),
    ],
)
def test_exclusive_end_is_rounded_up_to_a_whole_second(end, sent):
    assert to_daktela(ceil_to_second(pendulum.parse(end)), "Europe/Prague") == sent
