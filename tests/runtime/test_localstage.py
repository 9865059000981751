"""localstage: the servers start as the postgres user, stop without leftovers, and `python -m localstage`
stops everything on Ctrl-C or SIGTERM."""

from __future__ import annotations

import json
import os
import pwd
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
import pytest

from localstage import LocalStage, PgBouncerServer, PostgresServer, port_is_open
from localstage.services import descendant_processes, reap_orphans, still_running
from tests.fixtures.services import require_server_programs
from tests.runtime.test_serve import WITH_STOP_SIGNALS


@pytest.fixture(autouse=True)
def server_programs() -> None:
    require_server_programs()


STARTUP_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0


def server_uid(pid_file: Path) -> int:
    pid = int(pid_file.read_text().splitlines()[0])
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^Uid:\s+(\d+)", status, re.MULTILINE).group(1))  # type: ignore[union-attr]


@pytest.mark.skipif(os.geteuid() != 0, reason="only meaningful when started as root")
def test_servers_run_as_postgres_when_started_as_root(services: LocalStage) -> None:
    postgres_uid = pwd.getpwnam("postgres").pw_uid
    assert services.postgres.workdir is not None
    assert services.pgbouncer.workdir is not None
    assert server_uid(services.postgres.workdir / "data" / "postmaster.pid") == postgres_uid
    assert server_uid(services.pgbouncer.workdir / "pgbouncer.pid") == postgres_uid


def test_pgbouncer_pools_transactions_in_front_of_postgres(services: LocalStage) -> None:
    with psycopg.connect(services.pgbouncer.admin_url(), autocommit=True) as admin:
        rows = admin.execute("SHOW CONFIG").fetchall()
    config = {row[0]: row[1] for row in rows}
    assert config["pool_mode"] == "transaction"
    assert config["listen_addr"] == "127.0.0.1"
    assert config["query_wait_timeout"] == "20"
    assert config["server_login_retry"] == "1"


def test_restarted_pgbouncer_keeps_its_port(services: LocalStage) -> None:
    port = services.pgbouncer.port
    services.restart_pgbouncer()
    assert services.pgbouncer.port == port
    assert port_is_open(port)


def test_context_manager_leaves_nothing_on_error() -> None:
    before = descendant_processes(os.getpid())  # the session's servers, which stay
    seen: dict[str, Any] = {}

    def fail_while_running() -> None:
        with PostgresServer() as server:
            seen.update(port=server.port, workdir=server.workdir)
            seen["family"] = descendant_processes(os.getpid()) - before
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_while_running()
    assert len(seen["family"]) >= 3  # runuser, the postmaster and its helpers
    assert not port_is_open(seen["port"])
    assert still_running(seen["family"]) == []
    assert not seen["workdir"].exists()


def run_localstage(
    *extra: str, inherited: str = "SIG_DFL"
) -> tuple[subprocess.Popen[str], dict[str, int], Path, str]:
    """Start `python -m localstage` with SIGINT/SIGTERM set to ``inherited``, wait (bounded) until it
    serves; its ports, workdir and output so far."""
    process = subprocess.Popen(
        [sys.executable, "-c", WITH_STOP_SIGNALS, inherited, "-m", "localstage", "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline and not any(line.startswith("localstage: health") for line in lines):
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
    output = "".join(lines)
    assert "localstage: health" in output, output
    ports = {
        name: int(port) for name, port in re.findall(r"localstage: (postgres|pgbouncer)\s+\S+:(\d+)/", output)
    }
    ports["health"] = int(re.search(r"health\s+http://127.0.0.1:(\d+)/", output).group(1))  # type: ignore[union-attr]
    env_file = Path(re.search(r"env file\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    return process, ports, env_file.parent, output


@pytest.mark.parametrize(
    ("stop_signal", "inherited"),
    [(signal.SIGINT, "SIG_DFL"), (signal.SIGTERM, "SIG_DFL"), (signal.SIGINT, "SIG_IGN")],
    ids=["SIGINT", "SIGTERM", "SIGINT-inherited-ignored"],
)
def test_localstage_stops_everything_on_signal(stop_signal: signal.Signals, inherited: str) -> None:
    process, ports, workdir, started_output = run_localstage("--duration", "120", inherited=inherited)
    try:
        assert set(ports) == {"postgres", "pgbouncer", "health"}
        family = descendant_processes(process.pid)
        assert len(family) >= 4  # runuser + postgres (+ helpers) + runuser + pgbouncer
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['health']}/api/health/live", timeout=5) as live:
            assert json.load(live)["status"] == "healthy"
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['health']}/api/health", timeout=10) as ready:
            readiness = json.load(ready)  # through the stage's PgBouncer, with the env it wrote
        assert readiness["checks"]["database"]["status"] == "ok"
        assert readiness["stage"] == "development"
        # the declared functions on their routes (the example app), its schema applied
        assert "localstage: route     POST /api/items" in started_output
        create = urllib.request.Request(
            f"http://127.0.0.1:{ports['health']}/api/items", data=b'{"name": "local"}', method="POST"
        )
        with urllib.request.urlopen(create, timeout=10) as created:  # noqa: S310 - http://127.0.0.1 above
            assert created.status == 201
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['health']}/api/stats", timeout=10) as stats:
            assert json.load(stats)["items"] >= 1
        env = dict(
            line.split("=", 1) for line in (workdir / "ballast.env").read_text().splitlines() if "=" in line
        )
        assert f":{ports['pgbouncer']}/" in env["DATABASE_URL"]
        assert f":{ports['postgres']}/" in env["DATABASE_URL_UNPOOLED"]
        assert (workdir / "ballast.env").stat().st_mode & 0o077 == 0
        password = urllib.parse.urlsplit(env["DATABASE_URL"]).password
        assert password
        process.send_signal(stop_signal)
        stopped_output, _ = process.communicate(timeout=STOP_TIMEOUT_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    output = started_output + stopped_output
    assert process.returncode == 0, output
    assert f"{stop_signal.name} received" in output
    assert "nothing left running" in output
    assert password not in output
    assert ":***@" in output
    assert not [port for port in ports.values() if port_is_open(port)]
    assert still_running(family) == []
    assert not workdir.exists()


def test_localstage_duration_ends_by_itself() -> None:
    process, ports, workdir, _ = run_localstage("--duration", "1")
    family = descendant_processes(process.pid)
    output, _ = process.communicate(timeout=STOP_TIMEOUT_SECONDS)
    assert process.returncode == 0, output
    assert not [port for port in ports.values() if port_is_open(port)]
    assert still_running(family) == []
    assert not workdir.exists()


def test_servers_of_a_killed_owner_are_reaped() -> None:
    """SIGKILL cannot be caught: the next stage start finds the orphans (owner gone) and stops them."""
    code = (
        "import time; from localstage import LocalStage; stage = LocalStage().start(); "
        "print(stage.workdir, stage.postgres.port, stage.pgbouncer.port, flush=True); time.sleep(120)"
    )
    owner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        workdir, *ports = owner.stdout.readline().split()
        family = descendant_processes(owner.pid)
    finally:
        owner.kill()
        owner.wait(timeout=10)
    assert all(port_is_open(int(port)) for port in ports)  # orphaned, still serving
    assert Path(workdir) in reap_orphans()
    assert not any(port_is_open(int(port)) for port in ports)
    assert still_running(family) == []
    assert not Path(workdir).exists()


def test_pgbouncer_md5_auth(services: LocalStage) -> None:
    with PgBouncerServer(postgres=services.postgres, auth_type="md5") as bouncer:
        with psycopg.connect(bouncer.url(), autocommit=True, connect_timeout=5) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        port = bouncer.port
    assert not port_is_open(port)
