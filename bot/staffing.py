"""When the care team is staffed, from a short spec such as "mon-fri 08:00-18:00, sat 09:00-12:00".

The escalation action promises "a member of the care team will join here" only inside these hours;
outside them it collects a contact detail instead. "always" and "never" are accepted too.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from typing import List, Optional
from zoneinfo import ZoneInfo

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_WINDOW = re.compile(r"^(?P<first>[a-z]{3})(?:-(?P<last>[a-z]{3}))?\s+"
                     r"(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})$")


@dataclass(frozen=True)
class Window:
    days: frozenset
    start: time
    end: time

    def contains(self, moment: datetime) -> bool:
        return moment.weekday() in self.days and self.start <= moment.time() < self.end


@dataclass(frozen=True)
class StaffedHours:
    windows: List[Window]
    timezone: ZoneInfo
    spec: str

    def is_staffed(self, now: Optional[datetime] = None) -> bool:
        local = (now or datetime.now(self.timezone)).astimezone(self.timezone)
        return any(window.contains(local) for window in self.windows)

    def describe(self) -> str:
        """Plain words for patients, e.g. "Monday to Friday 08:00-18:00 (UTC)"; "" if never staffed."""
        if self.spec == "always":
            return "at all times"
        if not self.windows:
            return ""
        parts = []
        for window in self.windows:
            days = sorted(window.days)
            span = DAY_NAMES[days[0]] if len(days) == 1 else f"{DAY_NAMES[days[0]]} to {DAY_NAMES[days[-1]]}"
            parts.append(f"{span} {window.start:%H:%M}-{window.end:%H:%M}")
        return f"{', '.join(parts)} ({self.timezone.key})"


def _day_range(first: str, last: Optional[str]) -> frozenset:
    start, end = DAYS.index(first), DAYS.index(last or first)
    return frozenset(range(start, end + 1)) if start <= end else frozenset(
        list(range(start, 7)) + list(range(0, end + 1)))


def parse_staffed_hours(spec: str, timezone: str = "UTC") -> StaffedHours:
    """Parse the STAFFED_HOURS setting; raises ValueError with the offending part."""
    normalised = spec.strip().lower()
    zone = ZoneInfo(timezone)
    if normalised == "always":
        return StaffedHours([Window(frozenset(range(7)), time(0, 0), time.max)], zone, "always")
    if normalised == "never":
        return StaffedHours([], zone, "never")
    windows = []
    for part in filter(None, (p.strip() for p in normalised.split(","))):
        match = _WINDOW.match(part)
        if not match or match["first"] not in DAYS or (match["last"] and match["last"] not in DAYS):
            raise ValueError(f"STAFFED_HOURS: cannot read {part!r} (expected e.g. 'mon-fri 08:00-18:00')")
        start, end = (time.fromisoformat(match[k].zfill(5)) for k in ("start", "end"))
        windows.append(Window(_day_range(match["first"], match["last"]), start, end))
    return StaffedHours(windows, zone, normalised)
