"""``python -m localstage``: PostgreSQL + PgBouncer on 127.0.0.1, a development env pointed at the pooler, and
the declared functions (``ballast:functions``, the health check included) served on their routes on
localhost. Ctrl-C (or SIGTERM/SIGHUP) stops everything and leaves nothing running.

Exit codes: 0 stopped cleanly, 1 a service could not start, 2 the functions' config is invalid.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dbops import DEFAULT_MIGRATIONS_DIR
from localstage.functions import DEFAULT_STACK, LocalFunctionsError
from localstage.services import LocalStage, ServiceError, missing_binaries
from runtime.serve import Stopped, ignore_stop_signals, make_server, serve_in_thread, server_url, stop_signals

if TYPE_CHECKING:
    from localstage.functions import LocalFunctions

REPO_ROOT = Path(__file__).resolve().parents[1]
EXIT_CONFIG_ERROR = 2


def masked(url: str) -> str:
    """The URL without its password, for printing."""
    parts = urllib.parse.urlsplit(url)
    netloc = f"{parts.username}:***@{parts.hostname}:{parts.port}" if parts.password else parts.netloc
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def write_env_file(path: Path, env: dict[str, str]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(
            "# Written by `python -m localstage`: a development env pointed at the local PgBouncer.\n"
        )
        handle.writelines(f"{name}={value}\n" for name, value in env.items())


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m localstage", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--port", type=int, default=8000, help="functions' server port (default: %(default)s; 0: free)"
    )
    parser.add_argument(
        "--stack", default=DEFAULT_STACK, help="whose ballast:functions to serve (default: %(default)s)"
    )
    parser.add_argument("--env-file", type=Path, help="also write the development env here (mode 0600)")
    parser.add_argument("--duration", type=float, help="stop by itself after this many seconds")
    parser.add_argument(
        "--query-wait-timeout", type=int, default=120, help="PgBouncer query_wait_timeout (s)"
    )
    parser.add_argument("--server-login-retry", type=int, default=2, help="PgBouncer server_login_retry (s)")
    parser.add_argument(
        "--migrations-dir", type=Path, default=REPO_ROOT / DEFAULT_MIGRATIONS_DIR, help="applied at start"
    )
    return parser.parse_args(argv)


def load_functions(stack: str) -> LocalFunctions | None:
    """The stack's functions, imported; None (problems printed) when the config or an import fails."""
    from infra.config import ConfigError
    from infra.plan.stackfiles import StackFileError
    from localstage.functions import apply_environment, local_functions, read_config

    try:
        config = read_config(REPO_ROOT, stack)
        apply_environment(config)
        return local_functions(config, REPO_ROOT)
    except (ConfigError, StackFileError) as error:
        for problem in error.problems:
            print(f"localstage: {problem}", file=sys.stderr)
    except LocalFunctionsError as error:
        print(f"localstage: {error}", file=sys.stderr)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    missing = missing_binaries()
    if missing:
        print(f"localstage: missing {', '.join(missing)}; run scripts/setup.sh", file=sys.stderr)
        return 1
    try:
        with stop_signals():  # even when inherited ignored (a script's `python -m localstage &`)
            return _run(args)
    except Stopped:  # arrived before anything was started
        return 0


def _run(args: argparse.Namespace) -> int:
    stage = LocalStage(query_wait_timeout=args.query_wait_timeout, server_login_retry=args.server_login_retry)
    server = None
    try:
        stage.start()
        from dbops.migrations import MigrationError, PooledConnectionRefused, migrate

        try:  # the app's schema, over the direct URL, as every stage gets it
            report = migrate(stage.direct_url(), args.migrations_dir)
        except (MigrationError, PooledConnectionRefused) as error:
            print(f"localstage: migrations failed: {error}", file=sys.stderr)
            return 1
        env = stage.development_env()
        os.environ.update(env)
        write_env_file(stage.workdir / "ballast.env", env)
        if args.env_file is not None:
            write_env_file(args.env_file, env)

        functions = load_functions(args.stack)
        if functions is None:
            return EXIT_CONFIG_ERROR

        server = make_server("127.0.0.1", args.port, handler=functions)
        serve_in_thread(server)
        print(f"localstage: postgres  {masked(stage.direct_url())}", flush=True)
        print(f"localstage: pgbouncer {masked(stage.pooled_url())} (pool_mode=transaction)", flush=True)
        print(f"localstage: env file  {args.env_file or stage.workdir / 'ballast.env'}", flush=True)
        applied = ", ".join(report.applied) or "nothing pending"
        print(f"localstage: migrated  {applied} ({report.seconds:.2f}s, {args.migrations_dir})", flush=True)
        for route in sorted(functions.routes, key=lambda r: (r.path, r.method)):
            print(f"localstage: route     {route.key:<28} -> {route.function}", flush=True)
        print(f"localstage: health    {server_url(server)}  (Ctrl-C stops everything)", flush=True)
        deadline = None if args.duration is None else time.monotonic() + args.duration
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic())))
    except Stopped as stop:
        print(f"localstage: {stop} received, stopping", flush=True)
    except (ServiceError, OSError) as error:
        print(f"localstage: {error}", file=sys.stderr)
        return 1
    finally:
        ignore_stop_signals()  # a Ctrl-C now must not cut the clean-up short
        if server is not None:
            server.shutdown()
            server.server_close()
        from runtime.db import close_pool

        close_pool()
        stage.close()
        print("localstage: stopped; nothing left running", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
