"""Units: durations, sizes, rates, limits and time windows, parsed and formatted back."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pansync.units import (
    FractionOrCount,
    TimeWindow,
    format_duration,
    format_rate,
    format_size,
    parse_duration,
    parse_fraction_or_count,
    parse_rate,
    parse_size,
    parse_window,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("10min", 600),
        ("2h", 7200),
        ("1h30m", 5400),
        ("1h 30min", 5400),
        ("30d", 30 * 86400),
        ("500ms", 0.5),
        ("1.5h", 5400),
        ("2w", 14 * 86400),
        ("10 minutes", 600),
        ("1d12h", 36 * 3600),
        (" 2S ", 2),
        (45, 45),
        (2.5, 2.5),
        ("120", 120),
        (0, 0),
    ],
)
def test_parse_duration(text: str | int | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        ("10 parsecs", "'10 parsecs' is not a duration"),
        ("fast", "is not a duration"),
        ("", "is not a duration"),
        ("-5s", "is not a duration"),
        ("1m1h", "larger unit first"),
        ("1h1h", "larger unit first"),
        (-3, "got -3"),
        (True, "got true"),
        (float("nan"), "got nan"),
    ],
)
def test_parse_duration_refuses(bad: object, needle: str) -> None:
    with pytest.raises(ValueError, match=r"e\.g\.|write the larger") as caught:
        parse_duration(bad)  # type: ignore[arg-type]
    assert needle in str(caught.value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.5, "500ms"),
        (30, "30s"),
        (600, "10min"),
        (5400, "1h30min"),
        (90061.5, "1d1h1min1s500ms"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.integers(min_value=0, max_value=10**12))
def test_duration_round_trips_in_milliseconds(millis: int) -> None:
    seconds = millis / 1000
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, abs=1e-9)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("4MiB", 4 * 1024**2),
        ("4MB", 4_000_000),
        ("512KiB", 512 * 1024),
        ("1G", 1024**3),
        ("1GB", 10**9),
        ("1.5GiB", 1536 * 1024**2),
        ("2 tib", 2 * 1024**4),
        ("100B", 100),
        ("1.1KiB", 1126),
        ("100", 100),
        (4096, 4096),
        ("0", 0),
    ],
)
def test_parse_size(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["4 MiBs", "lots", "-1", "1e3", "", True, [1]])
def test_parse_size_refuses(bad: object) -> None:
    with pytest.raises(ValueError, match=r"e\.g\. 4MiB"):
        parse_size(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (812, "812 B"),
        (4 * 1024**2, "4 MiB"),
        (1536 * 1024**2, "1.5 GiB"),
        (1024**5 * 3, "3 PiB"),
    ],
)
def test_format_size(size: int, text: str) -> None:
    assert format_size(size) == text


@given(st.integers(min_value=0, max_value=1024), st.integers(min_value=0, max_value=5))
def test_whole_binary_sizes_round_trip(count: int, power: int) -> None:
    size = count * 1024**power
    assert parse_size(format_size(size)) == size


@given(st.integers(min_value=1, max_value=2**60))
def test_any_size_formats_within_five_percent(size: int) -> None:
    assert parse_size(format_size(size)) == pytest.approx(size, rel=0.05)


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("2MiB/s", 2 * 1024**2),
        ("500KB/s", 500_000),
        ("1M", 1024**2),
        (1000, 1000),
        (0, None),
        ("0", None),
        ("unlimited", None),
        ("Unlimited", None),
        (None, None),
    ],
)
def test_parse_rate(text: str | int | None, rate: int | None) -> None:
    assert parse_rate(text) == rate


def test_parse_rate_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match=r"'fast' is not a rate; write e\.g\. 2MiB/s"):
        parse_rate("fast")


@given(st.integers(min_value=1, max_value=1024), st.integers(min_value=0, max_value=4))
def test_rate_round_trips(count: int, power: int) -> None:
    rate = count * 1024**power
    assert parse_rate(format_rate(rate)) == rate
    assert format_rate(None) == "unlimited"


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("50%", FractionOrCount(fraction=0.5)),
        ("100%", FractionOrCount(fraction=1.0)),
        ("12.5%", FractionOrCount(fraction=0.125)),
        ("500", FractionOrCount(count=500)),
        (500, FractionOrCount(count=500)),
        (0, FractionOrCount(count=0)),
    ],
)
def test_parse_fraction_or_count(text: str | int, limit: FractionOrCount) -> None:
    assert parse_fraction_or_count(text) == limit
    assert parse_fraction_or_count(str(limit)) == limit


@pytest.mark.parametrize("bad", ["150%", "half", "-5", "%", "2.5", True])
def test_parse_fraction_or_count_refuses(bad: object) -> None:
    with pytest.raises(ValueError, match="50%"):
        parse_fraction_or_count(bad)  # type: ignore[arg-type]


def test_fraction_or_count_limits() -> None:
    half = FractionOrCount.of_fraction(0.5)
    assert not half.exceeded(5, 10)
    assert half.exceeded(6, 10)
    fixed = FractionOrCount.of_count(3)
    assert not fixed.exceeded(3, 1000)
    assert fixed.exceeded(4, 1000)
    with pytest.raises(ValueError, match="exactly one"):
        FractionOrCount()
    with pytest.raises(ValueError, match="outside"):
        FractionOrCount(fraction=1.5)


@given(st.integers(min_value=0, max_value=1000))
def test_percent_round_trips(tenths: int) -> None:
    text = f"{tenths / 10:g}%"
    assert str(parse_fraction_or_count(text)) == text


def test_window_within_a_day() -> None:
    window = parse_window("09:00-17:30")
    assert window == TimeWindow(dt.time(9), dt.time(17, 30))
    assert window.contains(dt.time(9))
    assert window.contains(dt.time(12))
    assert not window.contains(dt.time(17, 30))
    assert not window.contains(dt.time(3))
    assert str(window) == "09:00-17:30"


def test_window_across_midnight() -> None:
    window = parse_window("22:00-06:00")
    assert window.contains(dt.time(23, 59))
    assert window.contains(dt.time(0, 0))
    assert window.contains(dt.time(5, 59))
    assert not window.contains(dt.time(6, 0))
    assert not window.contains(dt.time(12))


@pytest.mark.parametrize("bad", ["9-17", "25:00-06:00", "10:00-10:00", "10:61-11:00", 900])
def test_window_refuses(bad: object) -> None:
    with pytest.raises(ValueError, match="22:00-06:00"):
        parse_window(bad)  # type: ignore[arg-type]
