"""``python -m runtime.env check [--env-file PATH] [--stage STAGE] [--profile PROFILE]``: validate an
environment, print no value.

Exit 0 when valid (warnings printed), 1 when invalid (one line per problem, naming the variable), 2 when the
command itself is misused (e.g. the env file cannot be read). Variables from ``--env-file`` override the
process environment; ``--stage`` overrides ``BALLAST_STAGE`` from either (and brings the profile its name
implies), ``--profile`` overrides ``BALLAST_PROFILE``.

The file is read as Lambda will hold the values: literally (``${VAR}`` is not expanded), in linear time, at
most ``MAX_ENV_FILE_BYTES``; a line that is not ``KEY=value`` is a usage error naming its line number.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from dotenv.parser import parse_stream

from runtime.settings import PROFILES, SettingsError, load_settings

MAX_ENV_FILE_BYTES: Final = 4 * 1024 * 1024  # Lambda holds 4 KB of variables; a dotenv file is a few KB


class EnvFileError(ValueError):
    """The env file cannot be read as ``KEY=value`` lines; the message names the line, never a value."""


def read_env_file(path: Path) -> dict[str, str]:
    """The variables a dotenv file sets, literally (unset ``KEY`` lines are skipped, a later line wins)."""
    with path.open("rb") as stream:
        data = stream.read(MAX_ENV_FILE_BYTES + 1)
    if len(data) > MAX_ENV_FILE_BYTES:
        raise EnvFileError(f"is larger than {MAX_ENV_FILE_BYTES // (1024 * 1024)} MiB")
    text = data.decode("utf-8-sig")
    if "\0" in text:
        raise EnvFileError("holds a NUL character (not a text file?)")
    values: dict[str, str] = {}
    bad_lines: list[int] = []
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            bad_lines.append(binding.original.line)
        elif binding.key is not None and binding.value is not None:
            values[binding.key] = binding.value
    if bad_lines:
        shown = ", ".join(map(str, bad_lines[:5])) + (" …" if len(bad_lines) > 5 else "")
        raise EnvFileError(f"line(s) {shown}: not KEY=value")
    return values


def check(env_file: Path | None, stage: str | None, profile: str | None = None) -> int:
    env = dict(os.environ)
    if env_file is not None:
        if not env_file.is_file():
            print(f"error: env file {env_file} does not exist or is not a file", file=sys.stderr)
            return 2
        try:
            env.update(read_env_file(env_file))
        except (OSError, UnicodeDecodeError) as error:
            print(f"error: cannot read env file {env_file}: {type(error).__name__}", file=sys.stderr)
            return 2
        except EnvFileError as error:
            print(f"error: env file {env_file}: {error}", file=sys.stderr)
            return 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            settings = load_settings(env, stage=stage, profile=profile)
        except SettingsError as error:
            print(f"invalid: stage {error.stage}, {len(error.problems)} problem(s)")
            for problem in error.problems:
                print(f"  error: {problem}")
            return 1
    for warning in caught:
        print(f"  warning: {warning.message}")
    print(f"valid: stage {settings.stage} ({settings.profile} profile)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runtime.env", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check_parser = commands.add_parser("check", help="validate the environment (never prints a value)")
    check_parser.add_argument(
        "--env-file", type=Path, help="a dotenv file whose variables override the environment"
    )
    check_parser.add_argument(
        "--stage", help="the stage (stack) name, e.g. production or pr-7 (default: BALLAST_STAGE)"
    )
    check_parser.add_argument(
        "--profile",
        choices=PROFILES,
        help="default: BALLAST_PROFILE, else the one the stage's name implies",
    )
    args = parser.parse_args(argv)
    return check(args.env_file, args.stage, args.profile)


if __name__ == "__main__":
    sys.exit(main())
