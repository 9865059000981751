"""Our own stand-ins for the two small programs the Pulumi CLI ships for a Python project.

Run as a script (``python launch.py program|provider …``), never imported by the program: each entry
point does only what the engine relies on, using the installed SDK's own runtime functions. They stand
in for files of pulumi/pulumi (commit ``1b5949891b3cefcb9974752b24a5ecef0acc86c8``):

- ``program`` — ``sdk/python/cmd/pulumi-language-python-exec``, what the language host runs as
  ``<venv>/bin/python <exec> --monitor … --pwd <program dir> … <entry point>``
  (``sdk/python/cmd/pulumi-language-python/main.go`` ``Run``): chdir to ``--pwd``; the program's
  directory replaces this script's as ``sys.path[0]`` (where ``python <program>`` and ``runpy`` put it);
  the SDK's settings from the flags (``pulumi.runtime.reset_options``); the config and its secret keys from
  ``PULUMI_CONFIG`` / ``PULUMI_CONFIG_SECRET_KEYS`` as the CLI passes them (``set_all_config``); then
  ``runpy.run_path(<entry point>, run_name="__main__")`` inside ``pulumi.runtime.run_in_stack`` on a fresh
  event loop whose default executor has ``4 * parallel`` workers (as the SDK's inline-program server does,
  ``sdk/python/lib/pulumi/automation/_server.py``).
- ``provider`` — ``sdk/python/dist/pulumi-resource-pulumi-python``, the plugin the engine starts for
  dynamic providers with the program directory as working directory and ``PULUMI_RUNTIME_VIRTUALENV``
  set from ``Pulumi.yaml`` (``sdk/go/common/resource/plugin/provider_plugin.go`` ``NewProvider``): the
  virtualenv (trailing slash removed) resolved against the working directory, a clear refusal (exit 1) when
  ``<venv>/bin/python`` is missing, then ``exec <venv>/bin/python -u -m pulumi.dynamic <args>`` (same
  process, so the caller's process group holds the provider host). Only the pip toolchain's virtualenv is
  reproduced: without ``PULUMI_RUNTIME_VIRTUALENV`` this refuses too (this project always names one).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import runpy
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

VIRTUALENV_VARIABLE: Final = "PULUMI_RUNTIME_VIRTUALENV"
EXECUTOR_WORKERS_PER_PARALLEL: Final = 4


def program_arguments(argv: list[str]) -> argparse.Namespace:
    """The flags ``pythonLanguageHost.Run`` passes, then the entry point and the program's own arguments."""
    parser = argparse.ArgumentParser(prog="launch.py program")
    for flag in ("monitor", "engine", "project", "root_directory", "stack", "pwd", "organization"):
        parser.add_argument(f"--{flag}", default="")
    parser.add_argument("--dry_run", choices=("true", "false"), default="false")
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("program")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    return parser.parse_args(argv)


def run_program(argv: list[str]) -> int:
    """The language host's exec step: the program under the SDK's settings and config, in the root stack."""
    import pulumi.runtime  # the project's venv runs this entry point; the provider launcher needs no SDK

    args = program_arguments(argv)
    if args.pwd:
        os.chdir(args.pwd)
    program = os.path.abspath(args.program)
    sys.path[0] = program if os.path.isdir(program) else os.path.dirname(program)
    sys.argv = [program, *args.args]
    pulumi.runtime.reset_options(
        project=args.project,
        stack=args.stack,
        root_directory=args.root_directory,
        parallel=args.parallel,
        engine_address=args.engine,
        monitor_address=args.monitor,
        preview=args.dry_run == "true",
        organization=args.organization,
    )
    pulumi.runtime.set_all_config(
        pulumi.runtime.get_config_env(), pulumi.runtime.get_config_secret_keys_env()
    )

    def run() -> None:
        runpy.run_path(program, run_name="__main__")

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.set_default_executor(
        ThreadPoolExecutor(max_workers=max(args.parallel, 1) * EXECUTOR_WORKERS_PER_PARALLEL)
    )
    try:
        loop.run_until_complete(pulumi.runtime.run_in_stack(run))
    except pulumi.RunError as error:  # the SDK's error meant for the user, without a traceback
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        loop.close()
    return 0


def launch_provider(argv: list[str]) -> int:
    """The dynamic provider plugin: the project's virtualenv, resolved against the working directory."""
    configured = os.environ.get(VIRTUALENV_VARIABLE, "").rstrip("/")
    if not configured:
        print(f"launch.py provider: {VIRTUALENV_VARIABLE} is not set", file=sys.stderr)
        return 1
    venv = Path.cwd() / configured  # an absolute setting stays as it is
    python = venv / "bin" / "python"
    if not python.exists():
        print(
            f"launch.py provider: the virtualenv {venv} doesn't exist (no {python}); "
            f"run `pulumi install` in the program directory {Path.cwd()}",
            file=sys.stderr,
        )
        return 1
    # execv never returns: the provider host takes over this process (and its pid and process group).
    return os.execv(python, [str(python), "-u", "-m", "pulumi.dynamic", *argv])  # noqa: S606


ENTRY_POINTS: Final = {"program": run_program, "provider": launch_provider}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ENTRY_POINTS:
        print(f"usage: launch.py {{{'|'.join(ENTRY_POINTS)}}} ARGS…", file=sys.stderr)
        return 2
    return ENTRY_POINTS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
