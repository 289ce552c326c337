"""Cron schedules as Knative's PingSource reads them, and their next firing time.

Five fields (minute hour day-of-month month day-of-week) with `*`, lists, ranges and
steps, month and weekday names, the descriptors `@yearly`, `@monthly`, `@weekly`,
`@daily`, `@hourly` and `@every <duration>`, and an optional `CRON_TZ=<zone>` prefix.
As in cron, when both day fields are restricted a day matching either fires.
The local pinger (`cutman dev`) fires Sources by this; in a cluster the PingSource does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .dedupe import DurationError, parse_duration

_NAMES = {
    3: {m: i + 1 for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])},
    4: {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])},
}
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_DESCRIPTORS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
                "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}


class CronError(ValueError):
    pass


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool
    any_weekday: bool
    zone: ZoneInfo
    every_s: float = 0.0

    def next_after(self, t: datetime) -> datetime:
        """The first firing strictly after `t` (aware datetime), in `t`'s timezone."""
        if self.every_s:
            return t + timedelta(seconds=self.every_s)
        local = t.astimezone(self.zone).replace(second=0, microsecond=0) + timedelta(minutes=1)
        for _ in range(100_000):
            if local.month not in self.months:
                local = (local.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            elif not self._day_ok(local):
                local = local.replace(hour=0, minute=0) + timedelta(days=1)
            elif local.hour not in self.hours:
                local = local.replace(minute=0) + timedelta(hours=1)
            elif local.minute not in self.minutes:
                local += timedelta(minutes=1)
            else:
                return local.astimezone(t.tzinfo)
        raise CronError("schedule never fires")

    def _day_ok(self, d: datetime) -> bool:
        dom, dow = d.day in self.days, (d.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return dom and dow
        return dom or dow


def _field(text: str, index: int) -> frozenset[int]:
    lo, hi = _BOUNDS[index]
    out: set[int] = set()
    for part in text.lower().split(","):
        rng, _, step_s = part.partition("/")
        step = int(step_s) if step_s.isdigit() and int(step_s) > 0 else (1 if not step_s else -1)
        if step < 0:
            raise CronError(f"bad step in {part!r}")
        if rng == "*":
            a, b = lo, hi
        else:
            first, _, last = rng.partition("-")
            a = _value(first, index)
            b = _value(last, index) if last else (hi if step_s else a)
        if not (lo <= a <= hi and lo <= b <= hi and a <= b):
            raise CronError(f"{part!r} is outside {lo}-{hi}")
        out.update(range(a, b + 1, step))
    if index == 4 and 7 in out:
        out = (out - {7}) | {0}
    return frozenset(out)


def _value(text: str, index: int) -> int:
    names = _NAMES.get(index, {})
    if text in names:
        return names[text]
    if not text.isdigit():
        raise CronError(f"{text!r} is not a number" + (" or a name" if names else ""))
    return int(text)


def parse_cron(text: str, *, timezone: str | None = None) -> Schedule:
    """A Schedule for `text`; raises CronError quoting it."""
    spec, zone_name = text.strip(), timezone or "UTC"
    if spec.startswith(("CRON_TZ=", "TZ=")):
        head, _, spec = spec.partition(" ")
        zone_name = head.split("=", 1)[1]
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(f"{zone_name!r} is not a known timezone") from None
    if spec.startswith("@every "):
        try:
            every = parse_duration(spec.removeprefix("@every "))
        except DurationError as exc:
            raise CronError(f"{text!r}: {exc}") from None
        if every <= 0:
            raise CronError(f"{text!r}: the interval must be positive")
        full = frozenset[int]()
        return Schedule(full, full, full, full, full, True, True, zone, every)
    fields = _DESCRIPTORS.get(spec, spec).split()
    if len(fields) != 5:
        raise CronError(f"{text!r} is not a cron schedule (five fields, a @descriptor, or @every <duration>)")
    try:
        parsed = [_field(f, i) for i, f in enumerate(fields)]
    except CronError as exc:
        raise CronError(f"{text!r}: {exc}") from None
    minutes, hours, days, months, weekdays = parsed
    return Schedule(minutes, hours, days, months, weekdays, any_day=fields[2] == "*",
                    any_weekday=fields[4] == "*", zone=zone)
