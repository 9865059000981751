"""Throwaway PostgreSQL 15 and PgBouncer (``pool_mode=transaction``) on 127.0.0.1, for tests and local runs.

Each server lives in a private temporary directory and listens on a free loopback port. Started as root, the
servers run as the ``postgres`` user through ``runuser`` (PgBouncer refuses to run as root). ``stop()`` always
leaves nothing running: it signals the server itself (read from its pid file), waits a bounded time, then
kills what is left of the process tree (Postgres gives each child its own session, so a process group is not
enough). Every server still running at interpreter exit is stopped.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, ClassVar, Self

POSTGRES_BIN_DIR = Path("/usr/lib/postgresql/15/bin")
PGBOUNCER_BIN = Path("/usr/sbin/pgbouncer")
RUNUSER_BIN = Path("/usr/sbin/runuser")
SERVICE_USER = "postgres"  # the account the servers run as when we are root
LOOPBACK = "127.0.0.1"

DEFAULT_USER = "ballast"
DEFAULT_DATABASE = "ballast"
READY_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
_POLL_SECONDS = 0.05
WORKDIR_PREFIX = "ballast-"
OWNER_FILE = "owner"
# Where each kind of workdir keeps its server's pid, and the signal that stops that server at once.
_SERVER_PID_FILES = {
    "data/postmaster.pid": signal.SIGQUIT,  # Postgres immediate shutdown (it still cleans up shared memory)
    "postgres/data/postmaster.pid": signal.SIGQUIT,
    "pgbouncer.pid": signal.SIGTERM,  # PgBouncer immediate shutdown
    "pgbouncer/pgbouncer.pid": signal.SIGTERM,
}
_PORT_ATTEMPTS = 3  # a free port can be taken by someone else before the server binds it


class ServiceError(RuntimeError):
    """A local server could not be started or stopped; the message says which and why (never a password)."""


def missing_binaries(
    postgres_bin_dir: Path = POSTGRES_BIN_DIR, pgbouncer_bin: Path = PGBOUNCER_BIN
) -> list[str]:
    """The server programs that are not installed (empty when the local stage can run)."""
    wanted = [postgres_bin_dir / "initdb", postgres_bin_dir / "postgres", pgbouncer_bin]
    if os.geteuid() == 0:
        wanted.append(RUNUSER_BIN)
    return [str(path) for path in wanted if not os.access(path, os.X_OK)]


def find_free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now (the caller binds it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_open(port: int, host: str = LOOPBACK, timeout: float = 0.2) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _as_service_user(argv: list[str]) -> list[str]:
    if _running_as_root():
        return [str(RUNUSER_BIN), "-u", SERVICE_USER, "--", *argv]
    return argv


def _give_to_service_user(path: Path) -> None:
    """Let the service user own what we created (only needed, and only possible, as root)."""
    if not _running_as_root():
        return
    account = pwd.getpwnam(SERVICE_USER)
    os.chown(path, account.pw_uid, account.pw_gid)
    for root, dirs, files in os.walk(path):
        os.chown(root, account.pw_uid, account.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), account.pw_uid, account.pw_gid)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    _give_to_service_user(path)


def _read_pid(pid_file: Path) -> int | None:
    try:
        first_line = pid_file.read_text(encoding="utf-8").splitlines()[0]
        return int(first_line.strip())
    except (OSError, IndexError, ValueError):
        return None


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _process_start_time(pid: int) -> int | None:
    """The kernel's start time of a live pid (tells a process from a later one reusing its number)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    if fields[0] in ("Z", "X"):  # a zombie has exited; only its parent's wait() is missing
        return None
    return int(fields[19])  # field 22 of proc(5); fields[0] is field 3


def descendant_processes(root_pid: int) -> set[tuple[int, int]]:
    """(pid, start time) of every process below root_pid.

    Postgres gives each of its children a session of its own, so a process group does not hold them all.
    """
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[-1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: set[tuple[int, int]] = set()
    pending = list(children.get(root_pid, []))
    while pending:
        pid = pending.pop()
        start_time = _process_start_time(pid)
        if start_time is not None:
            found.add((pid, start_time))
        pending.extend(children.get(pid, []))
    return found


def still_running(processes: set[tuple[int, int]]) -> list[int]:
    """The pids among (pid, start time) pairs that still belong to the same processes."""
    return [pid for pid, started in processes if _process_start_time(pid) == started]


def _kill_survivors(processes: set[tuple[int, int]], timeout: float) -> list[int]:
    """SIGKILL each process that is still the one we saw; return those still alive after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        alive = still_running(processes)
        if not alive or time.monotonic() >= deadline:
            return alive
        for pid in alive:
            _signal_pid(pid, signal.SIGKILL)
        time.sleep(_POLL_SECONDS)


def _signal_pid(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def make_workdir(kind: str) -> Path:
    """A private temporary directory that records its owner process (see ``reap_orphans``)."""
    path = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{kind}-"))
    (path / OWNER_FILE).write_text(f"{os.getpid()} {_process_start_time(os.getpid())}\n", encoding="ascii")
    return path


def reap_orphans(tmp_dir: Path | None = None) -> list[Path]:
    """Stop the servers of directories whose owner died without cleaning up (SIGKILL), and delete them.

    Directories of live owners (other test runs, other local stages) are left alone.
    """
    reaped = []
    for workdir in Path(tmp_dir or tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*"):
        try:
            owner_pid, owner_started = (int(part) for part in (workdir / OWNER_FILE).read_text().split())
        except (OSError, ValueError):
            continue  # not ours, or being created right now
        if _process_start_time(owner_pid) == owner_started:
            continue
        for pid_file, stop_signal in _SERVER_PID_FILES.items():
            server_pid = _read_pid(workdir / pid_file)
            if server_pid is None or str(workdir) not in _command_line(server_pid):
                continue  # gone, or the number now belongs to someone else
            family = {(server_pid, _process_start_time(server_pid) or 0)} | descendant_processes(server_pid)
            _signal_pid(server_pid, stop_signal)
            deadline = time.monotonic() + STOP_TIMEOUT_SECONDS / 2
            while still_running(family) and time.monotonic() < deadline:
                time.sleep(_POLL_SECONDS)
            _kill_survivors(family, STOP_TIMEOUT_SECONDS / 2)
        shutil.rmtree(workdir, ignore_errors=True)
        reaped.append(workdir)
    return reaped


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


_RUNNING: set[_ManagedProcess] = set()


@atexit.register
def _stop_everything_at_exit() -> None:
    for process in list(_RUNNING):
        process.stop()


@dataclass(eq=False)
class _ManagedProcess:
    """One server process started through ``runuser`` in its own session, stopped without leftovers."""

    name: str
    pid_file: Path
    log_file: Path
    stop_signals: tuple[signal.Signals, ...]
    popen: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    def spawn(self, argv: list[str], cwd: Path) -> None:
        self._log = open(self.log_file, "ab")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            _as_service_user(argv),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Own session: a Ctrl-C in the terminal reaches only us, and we stop the servers in order.
            start_new_session=True,
        )
        _RUNNING.add(self)

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def exited_early(self) -> bool:
        return self.popen is not None and self.popen.poll() is not None

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Signal the server (gentle first, then harder), then kill whatever is left in its process group."""
        popen = self.popen
        if popen is None:
            return
        try:
            server_pid = _read_pid(self.pid_file)
            family = descendant_processes(popen.pid)
            per_signal = timeout / max(len(self.stop_signals), 1)
            for sig in self.stop_signals:
                if popen.poll() is not None:
                    break
                if server_pid is not None:
                    _signal_pid(server_pid, sig)
                else:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(popen.pid, sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    popen.wait(per_signal)
            # runuser leads the process group: whatever is left in it (runuser, server, children) dies now.
            if _group_alive(popen.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout)
            deadline = time.monotonic() + timeout
            while _group_alive(popen.pid) and time.monotonic() < deadline:
                time.sleep(_POLL_SECONDS)
            survivors = _kill_survivors(family, timeout)
            if _group_alive(popen.pid) or survivors:
                raise ServiceError(f"{self.name}: processes survived SIGKILL: group {popen.pid}, {survivors}")
        finally:
            self.popen = None
            _RUNNING.discard(self)
            if self._log is not None:
                self._log.close()
                self._log = None


class _LocalServer:
    """What both throwaway servers do alike: take a free port (retried when another process wins it), stop,
    delete their private work directory on ``close()``, and serve as context managers."""

    _WORKDIR_KIND: ClassVar[str]
    # Hand a new work directory to the service user at once (PostgreSQL's initdb writes its password file
    # into it first, then hands it over itself).
    _HAND_OVER_NEW_WORKDIR: ClassVar[bool]
    port: int
    workdir: Path | None
    _owns_workdir: bool
    _process: _ManagedProcess | None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    def stop(self) -> None:
        """Stop the server; then nothing of it runs (see the class for what clients see)."""
        if self._process is not None:
            self._process.stop()
            self._process = None

    def close(self) -> None:
        """Stop and delete the work directory (when this object made it)."""
        self.stop()
        if self._owns_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
            self._owns_workdir = False
            self._workdir_deleted()

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> Self:
        raise NotImplementedError

    def _start_once(self) -> None:
        raise NotImplementedError

    def _workdir_deleted(self) -> None:
        """What else goes with the work directory (nothing by default)."""

    def _start_on_a_port(self) -> None:
        """``_start_once`` on ``port``, or on a free one (up to ``_PORT_ATTEMPTS`` tries) when it is 0."""
        choose_port = self.port == 0
        for attempt in range(_PORT_ATTEMPTS if choose_port else 1):
            if choose_port:
                self.port = find_free_port()
            try:
                self._start_once()
                return
            except ServiceError:
                if not choose_port or attempt == _PORT_ATTEMPTS - 1:
                    raise

    def _workdir(self) -> Path:
        if self.workdir is None:
            self.workdir = make_workdir(self._WORKDIR_KIND)
            self._owns_workdir = True
            if self._HAND_OVER_NEW_WORKDIR:
                _give_to_service_user(self.workdir)
        elif not self.workdir.is_dir():
            self.workdir.mkdir(mode=0o700, parents=True)
            _give_to_service_user(self.workdir)
        return self.workdir


@dataclass(eq=False)
class PostgresServer(_LocalServer):
    """A throwaway PostgreSQL cluster on 127.0.0.1. ``stop()`` is a fast shutdown (clients are disconnected)
    that keeps the data; ``close()`` removes it all."""

    workdir: Path | None = None
    port: int = 0  # 0: a free port is chosen at the first start and kept for restarts
    user: str = DEFAULT_USER
    database: str = DEFAULT_DATABASE
    password: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    bin_dir: Path = POSTGRES_BIN_DIR
    max_connections: int = 100
    ready_timeout: float = READY_TIMEOUT_SECONDS
    _owns_workdir: bool = field(default=False, init=False)
    _process: _ManagedProcess | None = field(default=None, init=False)
    _initialised: bool = field(default=False, init=False)
    _WORKDIR_KIND: ClassVar[str] = "pg"
    _HAND_OVER_NEW_WORKDIR: ClassVar[bool] = False

    @property
    def data_dir(self) -> Path:
        return self._workdir() / "data"

    def url(self, *, database: str | None = None) -> str:
        """The direct (unpooled) connection URL, password included: treat it as a secret."""
        return _postgres_url(self.user, self.password, self.port, database or self.database)

    def start(self) -> Self:
        """Create the cluster on first use, start it and wait until it accepts logins (bounded)."""
        if self.running:
            return self
        if not self._initialised:
            self._initdb()
        self._start_on_a_port()
        self._ensure_database()
        return self

    def _workdir_deleted(self) -> None:
        self._initialised = False  # the cluster went with it

    def _initdb(self) -> None:
        workdir = self._workdir()
        password_file = workdir / "initdb.pw"
        _write_private(password_file, self.password + "\n")
        _give_to_service_user(workdir)
        argv = [
            str(self.bin_dir / "initdb"),
            "--pgdata",
            str(self.data_dir),
            "--username",
            self.user,
            "--pwfile",
            str(password_file),
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ]
        log_file = workdir / "initdb.log"
        try:
            with open(log_file, "wb") as log:
                result = subprocess.run(
                    _as_service_user(argv),
                    cwd=workdir,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=120,
                    check=False,
                )
        finally:
            password_file.unlink(missing_ok=True)
        if result.returncode != 0:
            raise ServiceError(f"initdb failed (exit {result.returncode}):\n{_tail(log_file)}")
        self._initialised = True

    def _start_once(self) -> None:
        workdir = self._workdir()
        socket_dir = workdir / "socket"
        socket_dir.mkdir(exist_ok=True)
        _give_to_service_user(socket_dir)
        log_file = workdir / "postgres.log"
        process = _ManagedProcess(
            name=f"postgres :{self.port}",
            pid_file=self.data_dir / "postmaster.pid",
            log_file=log_file,
            # SIGINT: fast shutdown (disconnects clients); SIGQUIT: immediate shutdown.
            stop_signals=(signal.SIGINT, signal.SIGQUIT),
        )
        settings = {
            "listen_addresses": LOOPBACK,
            "port": str(self.port),
            "unix_socket_directories": str(socket_dir),
            "max_connections": str(self.max_connections),
            # A throwaway cluster: durability buys nothing here, speed does.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        argv = [str(self.bin_dir / "postgres"), "-D", str(self.data_dir)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        process.spawn(argv, cwd=workdir)
        self._process = process
        try:
            self._wait_until_ready(process, log_file)
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self, process: _ManagedProcess, log_file: Path) -> None:
        import psycopg  # localstage only: the Lambda runtime never imports this module

        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if process.exited_early():
                raise ServiceError(f"postgres exited during start on port {self.port}:\n{_tail(log_file)}")
            if port_is_open(self.port):
                try:
                    with psycopg.connect(self.url(database="postgres"), connect_timeout=2):
                        return
                except psycopg.OperationalError:
                    pass  # still starting up ("the database system is starting up")
            time.sleep(_POLL_SECONDS)
        raise ServiceError(f"postgres not ready on port {self.port} after {self.ready_timeout:.0f} s")

    def _ensure_database(self) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(database="postgres"), autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))


@dataclass(eq=False)
class PgBouncerServer(_LocalServer):
    """PgBouncer in transaction pooling mode in front of a ``PostgresServer``, on 127.0.0.1. ``stop()`` is
    immediate (SIGTERM, then SIGKILL): in-flight clients get an error."""

    postgres: PostgresServer
    workdir: Path | None = None
    port: int = 0  # 0: a free port is chosen at the first start and kept for restarts
    pool_mode: str = "transaction"
    auth_type: str = "scram-sha-256"  # or "md5"; the userlist holds the plain password for both
    default_pool_size: int = 20
    max_client_conn: int = 500
    query_wait_timeout: int = 120  # PgBouncer's default; fixtures set a short one
    server_login_retry: int = 15  # PgBouncer's default; fixtures set a short one
    server_connect_timeout: int = 5
    bin_path: Path = PGBOUNCER_BIN
    ready_timeout: float = READY_TIMEOUT_SECONDS
    _owns_workdir: bool = field(default=False, init=False)
    _process: _ManagedProcess | None = field(default=None, init=False)
    _WORKDIR_KIND: ClassVar[str] = "pgbouncer"
    _HAND_OVER_NEW_WORKDIR: ClassVar[bool] = True

    def url(self, *, database: str | None = None) -> str:
        """The pooled connection URL, password included: treat it as a secret."""
        pg = self.postgres
        return _postgres_url(pg.user, pg.password, self.port, database or pg.database)

    def admin_url(self) -> str:
        """The PgBouncer admin console (``SHOW POOLS`` and friends)."""
        return self.url(database="pgbouncer")

    def start(self) -> Self:
        if not self.running:
            self._start_on_a_port()
        return self

    def restart(self) -> Self:
        """Stop and start again on the same port (clients see their connections dropped)."""
        self.stop()
        return self.start()

    def _write_config(self) -> Path:
        workdir = self._workdir()
        pg = self.postgres
        userlist = workdir / "userlist.txt"
        _write_private(userlist, f'"{pg.user}" "{pg.password}"\n')
        config = workdir / "pgbouncer.ini"
        _write_private(
            config,
            "\n".join(
                [
                    "[databases]",
                    f"* = host={LOOPBACK} port={pg.port}",
                    "",
                    "[pgbouncer]",
                    f"listen_addr = {LOOPBACK}",
                    f"listen_port = {self.port}",
                    "unix_socket_dir =",
                    f"auth_type = {self.auth_type}",
                    f"auth_file = {userlist}",
                    f"admin_users = {pg.user}",
                    f"pool_mode = {self.pool_mode}",
                    f"default_pool_size = {self.default_pool_size}",
                    f"max_client_conn = {self.max_client_conn}",
                    f"query_wait_timeout = {self.query_wait_timeout}",
                    f"server_login_retry = {self.server_login_retry}",
                    f"server_connect_timeout = {self.server_connect_timeout}",
                    "ignore_startup_parameters = extra_float_digits",
                    f"logfile = {workdir / 'pgbouncer.log'}",
                    f"pidfile = {workdir / 'pgbouncer.pid'}",
                    "",
                ]
            ),
        )
        return config

    def _start_once(self) -> None:
        workdir = self._workdir()
        config = self._write_config()
        pid_file = workdir / "pgbouncer.pid"
        pid_file.unlink(missing_ok=True)
        process = _ManagedProcess(
            name=f"pgbouncer :{self.port}",
            pid_file=pid_file,
            log_file=workdir / "pgbouncer.out",
            stop_signals=(signal.SIGTERM,),
        )
        process.spawn([str(self.bin_path), str(config)], cwd=workdir)
        self._process = process
        try:
            deadline = time.monotonic() + self.ready_timeout
            while time.monotonic() < deadline:
                if process.exited_early():
                    raise ServiceError(
                        f"pgbouncer exited during start on port {self.port}:\n"
                        f"{_tail(workdir / 'pgbouncer.log')}\n{_tail(process.log_file)}"
                    )
                if port_is_open(self.port) and _read_pid(pid_file) is not None:
                    return
                time.sleep(_POLL_SECONDS)
            raise ServiceError(
                f"pgbouncer not listening on port {self.port} after {self.ready_timeout:.0f} s"
            )
        except BaseException:
            self.stop()
            raise


def _postgres_url(user: str, password: str, port: int, database: str) -> str:
    quote = urllib.parse.quote
    return (
        f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{LOOPBACK}:{port}/{quote(database)}"
    )


@dataclass(eq=False)
class LocalStage:
    """PostgreSQL plus PgBouncer in front of it: the pooled/direct pair Neon gives a real stage.

    Both live under one temporary directory (``workdir``), removed by ``close()``.
    """

    query_wait_timeout: int = 120
    server_login_retry: int = 15
    auth_type: str = "scram-sha-256"
    default_pool_size: int = 20
    workdir: Path = field(default_factory=lambda: make_workdir("stage"))
    postgres: PostgresServer = field(init=False)
    pgbouncer: PgBouncerServer = field(init=False)

    def __post_init__(self) -> None:
        self.postgres = PostgresServer(workdir=self.workdir / "postgres")
        self.pgbouncer = PgBouncerServer(
            postgres=self.postgres,
            workdir=self.workdir / "pgbouncer",
            query_wait_timeout=self.query_wait_timeout,
            server_login_retry=self.server_login_retry,
            auth_type=self.auth_type,
            default_pool_size=self.default_pool_size,
        )

    def start(self) -> Self:
        reap_orphans()
        try:
            _give_to_service_user(self.workdir)  # the servers' own directories are made inside it
            self.postgres.start()
            self.pgbouncer.start()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop both servers and delete their files; safe to call more than once."""
        try:
            self.pgbouncer.stop()
        finally:
            self.postgres.stop()
            shutil.rmtree(self.workdir, ignore_errors=True)

    def pooled_url(self) -> str:
        return self.pgbouncer.url()

    def direct_url(self) -> str:
        return self.postgres.url()

    def stop_postgres(self) -> None:
        """Fault drill: Postgres goes down while PgBouncer keeps accepting clients."""
        self.postgres.stop()

    def start_postgres(self) -> None:
        self.postgres.start()

    def restart_pgbouncer(self) -> None:
        self.pgbouncer.restart()

    def development_env(self) -> dict[str, str]:
        """A development env pointed at the pooler (values are secrets: the URLs hold the password)."""
        from runtime import constants

        return {
            constants.BALLAST_STAGE: constants.DEFAULT_STAGE,
            constants.DATABASE_URL: self.pooled_url(),
            constants.DATABASE_URL_UNPOOLED: self.direct_url(),
            constants.APP_SECRET: secrets.token_urlsafe(48),
        }

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
