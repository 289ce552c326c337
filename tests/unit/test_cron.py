"""Cron schedules and their next firing (shared/core/cron.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cutman.core.cron import CronError, parse_cron

T = datetime(2026, 3, 7, 10, 17, 30, tzinfo=UTC)  # a Saturday


@pytest.mark.parametrize(("cron", "expected"), [
    ("* * * * *", datetime(2026, 3, 7, 10, 18, tzinfo=UTC)),
    ("*/15 * * * *", datetime(2026, 3, 7, 10, 30, tzinfo=UTC)),
    ("0 9 * * mon-fri", datetime(2026, 3, 9, 9, 0, tzinfo=UTC)),
    ("30 2 1 * *", datetime(2026, 4, 1, 2, 30, tzinfo=UTC)),
    ("0 0 29 feb *", datetime(2028, 2, 29, 0, 0, tzinfo=UTC)),
    ("0 12 1 * 1", datetime(2026, 3, 9, 12, 0, tzinfo=UTC)),
    ("5,10 10 * * *", datetime(2026, 3, 8, 10, 5, tzinfo=UTC)),
    ("0 0 * * 7", datetime(2026, 3, 8, 0, 0, tzinfo=UTC)),
    ("@hourly", datetime(2026, 3, 7, 11, 0, tzinfo=UTC)),
    ("@daily", datetime(2026, 3, 8, 0, 0, tzinfo=UTC)),
    ("@every 30s", datetime(2026, 3, 7, 10, 18, 0, tzinfo=UTC)),
    ("CRON_TZ=Europe/Paris 0 12 * * *", datetime(2026, 3, 7, 11, 0, tzinfo=UTC)),
])
def test_next_after(cron: str, expected: datetime) -> None:
    assert parse_cron(cron).next_after(T) == expected


def test_timezone_field_and_dst() -> None:
    s = parse_cron("30 2 * * *", timezone="America/New_York")
    assert s.next_after(datetime(2026, 3, 7, 12, 0, tzinfo=UTC)) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize(("cron", "why"), [
    ("* * * *", "five fields"), ("60 * * * *", "outside 0-59"), ("* * * * funday", "not a number or a name"),
    ("*/0 * * * *", "bad step"), ("5-1 * * * *", "outside"), ("@every soon", "is not a duration"),
    ("CRON_TZ=Mars/Base * * * * *", "not a known timezone"),
])
def test_refused_with_reason(cron: str, why: str) -> None:
    with pytest.raises(CronError, match=why):
        parse_cron(cron)
