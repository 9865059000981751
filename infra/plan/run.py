"""Running the Pulumi program offline: stack config in, every resource registration recorded out.

The program runs under Pulumi's own mocks (``pulumi.runtime.set_mocks``) in preview mode, with the stack's
config set the way the CLI would set it (secure values as placeholders, their keys marked secret) and a
:class:`~infra.plan.record.RecordingMonitor` in front of the mocks that supply plausible provider outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pulumi.runtime
from pulumi.runtime import mocks as pulumi_mocks

from infra.plan.record import RecordedResource, RecordingMonitor
from infra.plan.stackfiles import StackFiles


def run_program(
    files: StackFiles, program: Callable[[], Any], mocks: pulumi.runtime.Mocks
) -> list[RecordedResource]:
    """Declare the whole stack with ``program()`` and return every registration, in order."""
    pulumi.runtime.set_all_config(dict(files.config), sorted(files.secret_keys))
    monitor = RecordingMonitor(mocks)
    # set_mocks keeps an earlier run's root Stack resource; each plan needs its own (its own stack name).
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=files.project, stack=files.stack, preview=True, monitor=monitor)
    # Runs the program and waits for every output to settle (the SDK helper is untyped).
    pulumi_mocks.test(program)()  # type: ignore[no-untyped-call]
    return list(monitor.recorded)
