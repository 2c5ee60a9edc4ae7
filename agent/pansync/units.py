"""Units people write in the config: durations, sizes, rates, limits and daily time windows.

Job: turn text such as `1h30m`, `4MiB`, `2MiB/s`, `50%` or `22:00-06:00` into plain numbers
(seconds, bytes, bytes per second) and format numbers back for humans. Limit: pure functions over
values; no file, clock or config knowledge. Bad input raises `ValueError` whose text quotes the bad
value and shows a good one; `config` prefixes it with the key and the line.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import ROUND_HALF_EVEN, Decimal

from msgspec import Struct

__all__ = [
    "FractionOrCount",
    "TimeWindow",
    "format_duration",
    "format_rate",
    "format_size",
    "parse_duration",
    "parse_fraction_or_count",
    "parse_rate",
    "parse_size",
    "parse_window",
]

Scalar = str | int | float

# -- durations -------------------------------------------------------------------------------------

_DURATION_UNITS: dict[str, Decimal] = {
    name: Decimal(size)
    for names, size in (
        (("ms", "msec", "millisecond", "milliseconds"), "0.001"),
        (("s", "sec", "secs", "second", "seconds"), "1"),
        (("m", "min", "mins", "minute", "minutes"), "60"),
        (("h", "hr", "hrs", "hour", "hours"), "3600"),
        (("d", "day", "days"), "86400"),
        (("w", "week", "weeks"), "604800"),
    )
    for name in names
}
_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*")
_DURATION_HINT = "write e.g. 30s, 500ms, 10min, 2h, 1h30m or 30d (a plain number means seconds)"


def _number(value: Scalar, what: str, hint: str) -> Decimal | None:
    """A plain number as Decimal, or None when `value` is text with a unit; refuses booleans."""
    if isinstance(value, bool):
        raise ValueError(f"expected {what}, got {str(value).lower()}; {hint}")
    if isinstance(value, int | float):
        if (isinstance(value, float) and not math.isfinite(value)) or value < 0:
            raise ValueError(f"expected {what}, got {value!r}; {hint}")
        return Decimal(str(value))
    if not isinstance(value, str):
        raise ValueError(f"expected {what}, got {type(value).__name__} {value!r}; {hint}")
    return Decimal(value.strip()) if re.fullmatch(r"\s*\d+(\.\d+)?\s*", value) else None


def parse_duration(value: Scalar) -> float:
    """Seconds in `value` (`30s`, `10min`, `1h30m`, `500ms`, `30d`; a plain number means seconds).

    Units may be combined largest first, as in `1d12h` or `1h 30min`; negative values are refused.
    """
    number = _number(value, "a duration", _DURATION_HINT)
    if number is not None:
        return float(number)
    assert isinstance(value, str)
    text = value.strip().lower()
    total = Decimal(0)
    position = 0
    last_unit: Decimal | None = None
    while position < len(text):
        match = _DURATION_PART.match(text, position)
        if match is None or match.group(2) not in _DURATION_UNITS:
            raise ValueError(f"{value!r} is not a duration; {_DURATION_HINT}")
        unit = _DURATION_UNITS[match.group(2)]
        if last_unit is not None and unit >= last_unit:
            raise ValueError(f"{value!r}: write the larger unit first, as in 1h30m")
        last_unit = unit
        total += Decimal(match.group(1)) * unit
        position = match.end()
    if last_unit is None:
        raise ValueError(f"{value!r} is not a duration; {_DURATION_HINT}")
    return float(total)


def format_duration(seconds: float) -> str:
    """`seconds` as compact text the parser reads back, e.g. 5400 -> `1h30min`, 0.5 -> `500ms`.

    Precision is one millisecond; the text is exact for whole milliseconds.
    """
    if seconds < 0 or not math.isfinite(seconds):
        raise ValueError(f"cannot format {seconds!r} as a duration")
    millis = int(Decimal(str(seconds)).scaleb(3).to_integral_value(ROUND_HALF_EVEN))
    if millis == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    if millis:
        parts.append(f"{millis}ms")
    return "".join(parts)


# -- sizes and rates -------------------------------------------------------------------------------

_SIZE_UNITS: dict[str, int] = {"b": 1, "": 1}
for _power, _letter in enumerate("kmgtp", start=1):
    _SIZE_UNITS[_letter] = 1024**_power  # a bare K/M/G is binary, as in dd, ls -h and Docker
    _SIZE_UNITS[_letter + "ib"] = 1024**_power
    _SIZE_UNITS[_letter + "b"] = 1000**_power
_SIZE_TEXT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*")
_SIZE_HINT = "write e.g. 4MiB, 512KiB, 1GB or 1G (a plain number means bytes)"
_RATE_HINT = "write e.g. 2MiB/s or 500KB/s, or 0, unlimited or null for no limit"
_BINARY_NAMES = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def parse_size(value: Scalar) -> int:
    """Bytes in `value`: `4MiB` (binary), `4MB` (decimal), `1G` (binary, as most tools read it).

    Fractions are allowed and rounded to the nearest byte, so `format_size` output reads back.
    """
    number = _number(value, "a size", _SIZE_HINT)
    factor = 1
    if number is None:
        assert isinstance(value, str)
        match = _SIZE_TEXT.fullmatch(value.lower())
        if match is None or match.group(2) not in _SIZE_UNITS:
            raise ValueError(f"{value!r} is not a size; {_SIZE_HINT}")
        number, factor = Decimal(match.group(1)), _SIZE_UNITS[match.group(2)]
    return int((number * factor).to_integral_value(ROUND_HALF_EVEN))  # 1.1KiB is 1126.4 bytes


def format_size(size: int) -> str:
    """`size` bytes in binary units for humans: `4 MiB`, `1.5 GiB`, `812 B`; one decimal at most."""
    if size < 0:
        raise ValueError(f"cannot format {size!r} as a size")
    power = 0
    while power + 1 < len(_BINARY_NAMES) and size >= 1024 ** (power + 1):
        power += 1
    unit = 1024**power
    if size % unit == 0:
        return f"{size // unit} {_BINARY_NAMES[power]}"
    return f"{size / unit:.1f} {_BINARY_NAMES[power]}"


def parse_rate(value: Scalar | None) -> int | None:
    """Bytes per second in `value` (`2MiB/s`, `500KB/s`); None for no limit (0, unlimited, null)."""
    if value is None:
        return None
    text = value
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("unlimited", "none", "null", ""):
            return None
        if text.lower().endswith("/s"):
            text = text[:-2]
    try:
        rate = parse_size(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a rate; {_RATE_HINT}") from None
    return rate or None


def format_rate(rate: int | None) -> str:
    """A rate as the config writes it: `2 MiB/s`, or `unlimited`."""
    return "unlimited" if not rate else f"{format_size(rate)}/s"


# -- fraction or count -----------------------------------------------------------------------------

_LIMIT_HINT = "write a share such as 50% or a count such as 500"


class FractionOrCount(Struct, frozen=True):
    """A limit given either as a share of a total (`50%`) or as an absolute count (`500`).

    Exactly one of `fraction` (0.0 to 1.0) and `count` is set; use the constructors below.
    """

    fraction: float | None = None
    count: int | None = None

    def __post_init__(self) -> None:
        if (self.fraction is None) == (self.count is None):
            raise ValueError("give exactly one of fraction and count")
        if self.fraction is not None and not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"fraction {self.fraction!r} is outside 0..1")
        if self.count is not None and self.count < 0:
            raise ValueError(f"count {self.count!r} is negative")

    @classmethod
    def of_fraction(cls, fraction: float) -> FractionOrCount:
        return cls(fraction=fraction)

    @classmethod
    def of_count(cls, count: int) -> FractionOrCount:
        return cls(count=count)

    def limit(self, total: int) -> float:
        """The largest allowed number out of `total` (a fraction of it, or the fixed count)."""
        if self.fraction is not None:
            return total * self.fraction
        assert self.count is not None
        return float(self.count)

    def exceeded(self, amount: int, total: int) -> bool:
        """Whether `amount` out of `total` is over the limit; at the limit is still allowed."""
        return amount > self.limit(total)

    def __str__(self) -> str:
        if self.fraction is not None:
            percent = f"{Decimal(str(self.fraction)) * 100:f}"
            return (percent.rstrip("0").rstrip(".") if "." in percent else percent) + "%"
        return str(self.count)


def parse_fraction_or_count(value: Scalar) -> FractionOrCount:
    """`50%` -> a share of the total; `500` -> an absolute count."""
    if isinstance(value, str) and value.strip().endswith("%"):
        number = value.strip()[:-1].strip()
        if not re.fullmatch(r"\d+(\.\d+)?", number):
            raise ValueError(f"{value!r} is not a percentage; {_LIMIT_HINT}")
        percent = Decimal(number)
        if percent > 100:
            raise ValueError(f"{value!r} is over 100%; {_LIMIT_HINT}")
        return FractionOrCount.of_fraction(float(percent / 100))
    number_or_none = _number(value, "a share or a count", _LIMIT_HINT)
    if number_or_none is None or number_or_none != number_or_none.to_integral_value():
        raise ValueError(f"{value!r} is neither a share nor a whole count; {_LIMIT_HINT}")
    return FractionOrCount.of_count(int(number_or_none))


# -- daily time window -----------------------------------------------------------------------------

_WINDOW = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")
_WINDOW_HINT = "write e.g. 09:00-17:30, or 22:00-06:00 to span midnight"


class TimeWindow(Struct, frozen=True):
    """A daily window of local wall-clock time; `end` before `start` means it spans midnight."""

    start: dt.time
    end: dt.time

    def contains(self, moment: dt.time) -> bool:
        """Whether `moment` falls inside; the start is inside, the end is not."""
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def parse_window(value: Scalar) -> TimeWindow:
    """`HH:MM-HH:MM` as a `TimeWindow`; equal start and end are refused (empty or all day?)."""
    match = _WINDOW.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{value!r} is not a time window; {_WINDOW_HINT}")
    hour1, minute1, hour2, minute2 = (int(group) for group in match.groups())
    try:
        start, end = dt.time(hour1, minute1), dt.time(hour2, minute2)
    except ValueError:
        raise ValueError(f"{value!r} has an impossible time; {_WINDOW_HINT}") from None
    if start == end:
        raise ValueError(f"{value!r} starts where it ends; {_WINDOW_HINT}, or leave it out")
    return TimeWindow(start, end)
