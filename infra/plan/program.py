"""The bridge from the offline plan to the real program: ``infra.stack.program`` under ``RecordingMocks``.

Kept apart from ``offline.py`` so that rendering and policy evaluation stay importable without the program.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi.runtime

from infra.plan.record import RecordedResource
from infra.plan.stackfiles import StackFiles

Runner = Callable[[StackFiles, Callable[[], Any], pulumi.runtime.Mocks], list[RecordedResource]]


class ProgramConfigError(Exception):
    """The program refused the stack's config; ``problems`` names each key (never a value)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} config problem(s)")
        self.problems = problems


def run_stage_program(files: StackFiles, runner: Runner) -> list[RecordedResource]:
    """Declare the stage the way ``pulumi up`` would, with the planned (not built) Lambda layer."""
    from infra import build, stack
    from infra.mocks import RecordingMocks

    def declare() -> None:
        stack.program(build_layer=build.planned_layer)

    try:
        return runner(files, declare, RecordingMocks(stack=files.stack))
    except stack.STAGE_ERRORS as error:
        problems = getattr(error, "problems", None) or [str(error)]
        raise ProgramConfigError([str(problem) for problem in problems]) from None
