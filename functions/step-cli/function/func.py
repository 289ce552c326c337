"""step-cli: runs cli steps (shell scripts or argv lists) of cutman workflows."""

from __future__ import annotations

from cutman.stepfunction import StepFunction

from .runner import CliExecutor


class StepCli(StepFunction):
    component = "step-cli"


def new() -> StepCli:
    return StepCli(CliExecutor())
