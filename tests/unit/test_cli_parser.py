"""The `cutman` parser itself: every command and every flag says what it does."""

from __future__ import annotations

import argparse

from cutman.cli import parser
from cutman.cli.describe import filter_text
from cutman.cli.output import age
from cutman.clock import parse


def _walk(p: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.Action]]:
    out = []
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, child in action.choices.items():
                assert helps.get(name), f"`{path} {name}` has no help line"
                out += _walk(child, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            out.append((path, action))
    return out


def test_every_flag_and_argument_has_help() -> None:
    actions = _walk(parser(), "cutman")
    assert len(actions) > 60
    missing = [f"{path} {a.option_strings or a.dest}" for path, a in actions if not a.help]
    assert missing == []


def test_commands_exist() -> None:
    sub = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert {"dev", "apply", "delete", "get", "describe", "runs", "approve", "deny", "send-alert",
            "completion", "alerts"} <= set(sub.choices)


def test_age_is_kubectl_short() -> None:
    now = parse("2026-12-01T12:00:00.000Z")
    assert age("2026-12-01T11:59:18.000Z", now=now) == "42s"
    assert age("2026-12-01T11:30:00.000Z", now=now) == "30m"
    assert age("2026-12-01T02:00:00.000Z", now=now) == "10h"
    assert age("2026-11-21T12:00:00.000Z", now=now) == "10d"
    assert age(None, now=now) == "<unknown>" and age("garbage", now=now) == "<unknown>"


def test_trigger_filters_read_as_one_line() -> None:
    filters = [{"all": [{"exact": {"cmsource": "default/am"}},
                        {"any": [{"exact": {"type": "dev.cutman.alert.firing"}},
                                 {"exact": {"type": "dev.cutman.source.event"}}]}]}]
    assert filter_text(filters) == "cmsource=default/am (type=alert.firing|type=source.event)"
    assert filter_text({"not": {"prefix": {"type": "dev.knative."}}}) == "!(type^=dev.knative.)"
