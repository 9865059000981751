"""Making the offline plan: stack files → validated stage config → the program under mocks → the policy pack.

Every way this can fail before a verdict (unreadable stack files, invalid stage or policy config, a program
that raises) becomes a :class:`PlanError` whose problems name the file, key or step — never a value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infra.plan import EXIT_MANDATORY_VIOLATION, EXIT_OK
from infra.plan.render import Plan, masked
from infra.plan.run import run_program
from infra.plan.stackfiles import StackFileError, load_stack_files
from infra.policy.config import load_policy_config
from infra.policy.evaluate import PolicyConfigError, evaluate, reconcile_config
from infra.policy.pack import PACK_ENFORCEMENT_LEVEL, build_policies, initial_config
from runtime.scrub import scrub_text


class PlanError(Exception):
    """The plan cannot be made; ``problems`` says why, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def make_plan(
    project_dir: Path,
    stack: str,
    *,
    stack_file: Path | None = None,
    policy_config_file: Path | None = None,
) -> Plan:
    try:
        files = load_stack_files(project_dir, stack, stack_file=stack_file)
    except StackFileError as error:
        raise PlanError(error.problems) from None
    policies = build_policies()
    try:
        settings = reconcile_config(
            policies,
            PACK_ENFORCEMENT_LEVEL,
            initial=initial_config(),
            given=_policy_config(policy_config_file),
        )
    except PolicyConfigError as error:
        raise PlanError([f"policy config: {problem}" for problem in error.problems]) from None

    from infra.plan.program import (  # the program
        ProgramConfigError,
        function_summary,
        run_stage_program,
        stage_settings,
    )

    try:
        settings_shown, secret_keys = stage_settings(files)  # validated before anything is declared
        recorded = run_stage_program(files, run_program)
        functions = function_summary(files)
    except ProgramConfigError as error:
        raise PlanError(error.problems) from None
    except Exception as error:  # any failure of the program is reported, scrubbed
        raise PlanError([f"the program failed: {type(error).__name__}: {scrub_text(str(error))}"]) from None

    evaluation = evaluate(
        policies, settings, [r.analyzed for r in recorded], stack=files.stack, project=files.project
    )
    return Plan(
        project=files.project,
        stack=files.stack,
        config_source=files.source,
        settings={key: masked(value, key, secret_keys) for key, value in settings_shown.items()},
        resources=recorded,
        evaluation=evaluation,
        policy_count=len(policies),
        exit_code=EXIT_MANDATORY_VIOLATION if evaluation.mandatory else EXIT_OK,
        functions=functions,
    )


def _policy_config(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        return load_policy_config(path)
    except PolicyConfigError as error:
        raise PlanError(error.problems) from None
