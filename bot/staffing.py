"""When the care team is staffed, from a short spec such as "mon-fri 08:00-18:00, sat 09:00-12:00".

The escalation action promises "a member of the care team will join here" only inside these hours;
outside them it collects a contact detail instead. "always" and "never" are accepted too.

A window starts on each of its days at its start time, in the clinic's time zone. An end at or
before the start runs overnight into the next day ("fri 22:00-06:00" is staffed until Saturday
06:00); "24:00" ends at midnight; a day range may wrap the week ("sat-mon").
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_WINDOW = re.compile(r"^(?P<first>[a-z]{3})(?:-(?P<last>[a-z]{3}))?\s+"
                     r"(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})$")
_MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True)
class Window:
    """Staffed from `start` to `end` (minutes after midnight) on each of `days` (0 = Monday, in the
    order written); `end` <= `start` means the window ends the next day."""

    days: tuple[int, ...]
    start: int
    end: int

    @property
    def overnight(self) -> bool:
        return self.end <= self.start

    def occurrences(self, first: date, last: date, zone: ZoneInfo) -> Iterator[tuple[datetime, datetime]]:
        """Each staffed interval starting on a day from `first` to `last`, as aware datetimes."""
        day = first
        while day <= last:
            if day.weekday() in self.days:
                midnight = datetime.combine(day, time(0, 0))
                start = midnight + timedelta(minutes=self.start)
                end = midnight + timedelta(minutes=self.end + (_MINUTES_PER_DAY if self.overnight else 0))
                yield start.replace(tzinfo=zone), end.replace(tzinfo=zone)
            day += timedelta(days=1)

    def describe(self) -> str:
        first, last = DAY_NAMES[self.days[0]], DAY_NAMES[self.days[-1]]
        span = first if len(self.days) == 1 else f"{first} to {last}"
        start, end = _clock(self.start), _clock(self.end)
        if self.overnight:
            return f"{span} from {start} to {end} the next morning"
        return f"{span} {start}-{end}"


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class StaffedHours:
    windows: list[Window]
    timezone: ZoneInfo
    spec: str

    def _intervals_around(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Staffed intervals that may contain or follow `moment` within a week, in UTC (aware
        datetimes sharing one tzinfo compare by wall clock, which is wrong across a DST change)."""
        today = moment.astimezone(self.timezone).date()
        for window in self.windows:
            for start, end in window.occurrences(today - timedelta(days=1), today + timedelta(days=7),
                                                 self.timezone):
                yield start.astimezone(timezone.utc), end.astimezone(timezone.utc)

    def is_staffed(self, now: datetime | None = None) -> bool:
        moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
        return any(start <= moment < end for start, end in self._intervals_around(moment))

    def next_staffed_time(self, now: datetime | None = None) -> datetime | None:
        """When a person will next see a request made at `now`: `now` itself while staffed,
        otherwise the start of the next staffed window, in the clinic's time zone; None when
        never staffed. Out-of-hours replies use it to say honestly how long a request waits."""
        moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
        upcoming = []
        for start, end in self._intervals_around(moment):
            if start <= moment < end:
                return moment.astimezone(self.timezone)
            if start > moment:
                upcoming.append(start)
        return min(upcoming).astimezone(self.timezone) if upcoming else None

    def describe(self) -> str:
        """Plain words for patients, the time zone named once and no brackets (callers put the
        phrase in their own), e.g. "Monday to Friday 08:00-18:00, UTC time"; "" if never staffed."""
        if self.spec == "always":
            return "at all times"
        if not self.windows:
            return ""
        return f"{' and '.join(window.describe() for window in self.windows)}, {self.timezone.key} time"


def _day_range(first: str, last: str | None) -> tuple[int, ...]:
    start, end = DAYS.index(first), DAYS.index(last or first)
    return tuple(range(start, end + 1)) if start <= end else tuple(
        list(range(start, 7)) + list(range(0, end + 1)))


def _minutes(clock: str, part: str, *, is_end: bool) -> int:
    hours, minutes = (int(n) for n in clock.split(":"))
    if minutes > 59 or hours > 24 or (hours == 24 and (minutes or not is_end)):
        raise ValueError(f"STAFFED_HOURS: {clock!r} in {part!r} is not a time of day")
    return hours * 60 + minutes


def parse_staffed_hours(spec: str, timezone: str = "UTC") -> StaffedHours:
    """Parse the STAFFED_HOURS setting; raises ValueError with the offending part."""
    normalised = spec.strip().lower()
    zone = ZoneInfo(timezone)
    if normalised == "always":
        return StaffedHours([Window(tuple(range(7)), 0, _MINUTES_PER_DAY)], zone, "always")
    if normalised == "never":
        return StaffedHours([], zone, "never")
    windows = []
    for part in filter(None, (p.strip() for p in normalised.split(","))):
        match = _WINDOW.match(part)
        if not match or match["first"] not in DAYS or (match["last"] and match["last"] not in DAYS):
            raise ValueError(f"STAFFED_HOURS: cannot read {part!r} (expected e.g. 'mon-fri 08:00-18:00')")
        start = _minutes(match["start"], part, is_end=False)
        end = _minutes(match["end"], part, is_end=True)
        if start == end:
            raise ValueError(f"STAFFED_HOURS: {part!r} is empty (a whole day is 00:00-24:00)")
        windows.append(Window(_day_range(match["first"], match["last"]), start, end))
    return StaffedHours(windows, zone, normalised)
