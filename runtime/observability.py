"""Sentry for the runtime: initialised once per process, scrubbed, and flushed within a short bound.

* environment = the stage; release = ``SENTRY_RELEASE`` (``settings.sentry_release``) or, on Lambda, the
  published function version as ``<function name>@<version>`` (``$LATEST`` is not a release: then none);
* PII: the SDK's defaults stay off (``send_default_pii`` is left unset: it is deprecated in sentry-sdk 2.75
  and unset means off), and every event and breadcrumb passes through ``runtime.scrub`` (``before_send`` /
  ``before_breadcrumb``) — beyond the SDK's ``EventScrubber``, which leaves contexts, messages and exception
  values alone;
* logging: breadcrumbs from ``WARNING`` up in production (``INFO`` elsewhere), events from ``ERROR`` up;
* on Lambda (``AWS_LAMBDA_FUNCTION_NAME`` set) the AWS Lambda integration, imported only then;
  ``auto_enabling_integrations`` is off: probing ~40 framework integrations costs ~90 ms of cold start;
* no DSN: Sentry stays off (sentry_sdk is not even imported), with a warning outside production.

Flushing — one bounded wait per response, owned by the decorator:
* ``flush()`` waits at most ``settings.sentry_flush_timeout_seconds`` (default 2 s, capped at 5 s);
* the decorator flushes at the end of every invocation, and that flush waits only when the invocation
  captured an event (nothing else is worth holding a response for);
* ``shutdown_timeout`` is 0: the Lambda integration calls ``client.flush()`` (which waits
  ``shutdown_timeout``) *before* posting every result, which would add a second, unconditional wait to each
  response; the atexit drain goes too (a Lambda process is frozen or killed, rarely exits).
Events are sent by the SDK's background worker. A black-holed Sentry (connection accepted, never answered)
keeps that worker blocked for up to the transport's 30 s socket timeout: a failing request's flush then waits
its full bound and returns — late by at most the bound, never stalled; requests that capture nothing are not
delayed at all; events beyond the worker's queue (100) are dropped rather than held. Traces (when sampled)
finish after the handler returns and go out in the background, best effort.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from runtime import constants, scrub

if TYPE_CHECKING:
    from pydantic import SecretStr

DEFAULT_FLUSH_TIMEOUT_SECONDS = 2.0
MAX_FLUSH_TIMEOUT_SECONDS = 5.0
LATEST_FUNCTION_VERSION = "$LATEST"
# The decorator logs unhandled errors here and captures them itself: Sentry must not turn the log line into
# a second event.
ERRORS_LOGGER = "runtime.errors"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Sentry's breadcrumb levels, as logging levels.
_SENTRY_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "log": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "fatal": logging.CRITICAL,
    "critical": logging.CRITICAL,
}

logger = logging.getLogger(__name__)


class SentrySettings(Protocol):
    """The part of ``runtime.settings.Settings`` Sentry and logging read."""

    @property
    def stage(self) -> str: ...
    @property
    def is_production(self) -> bool: ...
    @property
    def sentry_dsn(self) -> SecretStr | None: ...
    @property
    def sentry_release(self) -> str | None: ...
    @property
    def sentry_sample_rate(self) -> float: ...
    @property
    def sentry_traces_sample_rate(self) -> float: ...
    @property
    def sentry_flush_timeout_seconds(self) -> float: ...


class LoggingSettings(Protocol):
    @property
    def log_level(self) -> str: ...


@dataclass(frozen=True)
class SentryState:
    """How Sentry was set up in this process."""

    enabled: bool
    environment: str
    release: str | None
    flush_timeout_seconds: float
    breadcrumb_level: int
    on_lambda: bool


_state: SentryState | None = None
_state_lock = threading.Lock()


def init_sentry(
    settings: SentrySettings,
    *,
    transport: Any = None,
    env: Mapping[str, str] | None = None,
    options: Mapping[str, Any] | None = None,
) -> SentryState:
    """Set Sentry up for this process once; later calls return the first outcome (``reset_sentry`` undoes it).

    ``env`` (default ``os.environ``) is read for the Lambda markers only; ``transport`` and ``options`` (extra
    ``sentry_sdk.init`` keyword arguments) are for tests and special deployments.
    """
    global _state
    with _state_lock:
        if _state is None:
            _state = _initialise(settings, transport, os.environ if env is None else env, options or {})
        return _state


def sentry_state() -> SentryState | None:
    return _state


def sentry_enabled() -> bool:
    return _state is not None and _state.enabled


def flush(timeout: float | None = None) -> None:
    """Send what is queued, waiting at most ``timeout`` (default: the configured bound; never over 5 s).

    A no-op when Sentry is off.
    """
    state = _state
    if state is None or not state.enabled:
        return
    import sentry_sdk

    bound = state.flush_timeout_seconds if timeout is None else bounded_flush_timeout(timeout)
    sentry_sdk.flush(timeout=bound)


def reset_sentry() -> None:
    """Close the client and forget the set-up (tests): the next ``init_sentry`` starts afresh."""
    global _state
    with _state_lock:
        state, _state = _state, None
    if state is None or not state.enabled:
        return
    import sentry_sdk

    sentry_sdk.get_client().close(timeout=0)
    for scope in (
        sentry_sdk.get_global_scope(),
        sentry_sdk.get_isolation_scope(),
        sentry_sdk.get_current_scope(),
    ):
        scope.clear()
    sentry_sdk.get_global_scope().set_client(None)


def bounded_flush_timeout(seconds: float | None) -> float:
    """A flush wait within (0, 5] seconds; unset or non-positive means the 2 s default."""
    if seconds is None or seconds <= 0:
        return DEFAULT_FLUSH_TIMEOUT_SECONDS
    return min(float(seconds), MAX_FLUSH_TIMEOUT_SECONDS)


def breadcrumb_level(*, production: bool) -> int:
    return logging.WARNING if production else logging.INFO


def release_for(settings: SentrySettings, env: Mapping[str, str]) -> str | None:
    """``SENTRY_RELEASE`` when set, else the published Lambda version (``name@version``), else none."""
    if settings.sentry_release:
        return settings.sentry_release
    version = env.get(constants.AWS_LAMBDA_FUNCTION_VERSION, "")
    name = env.get(constants.AWS_LAMBDA_FUNCTION_NAME, "")
    if name and version and version != LATEST_FUNCTION_VERSION:
        return f"{name}@{version}"
    return None


def _initialise(
    settings: SentrySettings, transport: Any, env: Mapping[str, str], options: Mapping[str, Any]
) -> SentryState:
    production = settings.is_production
    state = SentryState(
        enabled=False,
        environment=settings.stage,
        release=release_for(settings, env),
        flush_timeout_seconds=bounded_flush_timeout(settings.sentry_flush_timeout_seconds),
        breadcrumb_level=breadcrumb_level(production=production),
        on_lambda=bool(env.get(constants.AWS_LAMBDA_FUNCTION_NAME)),
    )
    if settings.sentry_dsn is None or not settings.sentry_dsn.get_secret_value():
        # Production never gets here with validated settings (the DSN is required there).
        log = logger.error if production else logger.warning
        log("Sentry is disabled: %s is not set (errors are only logged)", constants.SENTRY_DSN)
        return state
    dsn = settings.sentry_dsn.get_secret_value()
    scrub.register_secret(dsn)
    try:
        _start_sdk(dsn, settings, state, transport, options)
    except Exception as error:  # the SDK's messages may quote the DSN: name the variable, not the value
        logger.error("Sentry is disabled: %s was refused (%s)", constants.SENTRY_DSN, type(error).__name__)
        return state
    return dataclasses.replace(state, enabled=True)


def _start_sdk(
    dsn: str, settings: SentrySettings, state: SentryState, transport: Any, options: Mapping[str, Any]
) -> None:
    import sentry_sdk
    from sentry_sdk.integrations import Integration
    from sentry_sdk.integrations.logging import LoggingIntegration, ignore_logger

    integrations: list[Integration] = [
        LoggingIntegration(level=state.breadcrumb_level, event_level=logging.ERROR),
    ]
    if state.on_lambda:
        from sentry_sdk.integrations.aws_lambda import AwsLambdaIntegration

        integrations.append(AwsLambdaIntegration())
    ignore_logger(ERRORS_LOGGER)
    init_options: dict[str, Any] = {
        "dsn": dsn,
        "environment": state.environment,
        "release": state.release,
        "sample_rate": settings.sentry_sample_rate,
        "traces_sample_rate": settings.sentry_traces_sample_rate or None,
        "integrations": integrations,
        "auto_enabling_integrations": False,
        "before_send": _before_send,
        "before_send_transaction": scrub.scrub_event,  # spans carry URLs, SQL and request data too
        "before_breadcrumb": _breadcrumb_filter(state.breadcrumb_level),
        "shutdown_timeout": 0,  # the decorator's flush is the one bounded wait (see the module notes)
        **({"transport": transport} if transport is not None else {}),
        **options,
    }
    sentry_sdk.init(**init_options)


class _Counter:
    def __init__(self) -> None:
        self._value = 0
        self._lock = threading.Lock()

    def increment(self) -> None:
        with self._lock:
            self._value += 1

    @property
    def value(self) -> int:
        return self._value


_events_prepared = _Counter()  # events that passed ``before_send`` in this process


def _before_send(event: Any, hint: Any) -> Any:
    scrubbed = scrub.scrub_event(event, hint)
    _events_prepared.increment()
    return scrubbed


def _breadcrumb_filter(minimum: int) -> Any:
    def before_breadcrumb(crumb: Any, hint: Any) -> Any:
        level = _SENTRY_LEVELS.get(str(crumb.get("level") or "info").lower(), logging.INFO)
        if level < minimum:
            return None
        return scrub.scrub_breadcrumb(crumb, hint)

    return before_breadcrumb


# --- per invocation -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Invocation:
    """One invocation's view of Sentry: did it capture anything worth waiting for?"""

    events_at_start: int

    def captured_events(self) -> int:
        return _events_prepared.value - self.events_at_start

    def flush(self) -> None:
        """The end-of-invocation flush: bounded, and waits only when this invocation captured an event."""
        if self.captured_events() > 0:
            flush()


@contextmanager
def invocation_scope(
    request_id: str, request: Callable[[], Mapping[str, Any]] | None = None
) -> Iterator[Invocation]:
    """An isolated Sentry scope for one invocation: fresh breadcrumbs, the ``request_id`` tag and the HTTP
    request, built by ``request()`` only when an event is sent (scrubbed then). A no-op when Sentry is off."""
    invocation = Invocation(events_at_start=_events_prepared.value)
    if not sentry_enabled():
        yield invocation
        return
    import sentry_sdk

    with sentry_sdk.isolation_scope() as scope:
        scope.clear_breadcrumbs()  # the fork copies the cold start's breadcrumbs
        scope.set_tag("request_id", request_id)
        if request is not None:
            describe = request

            def add_request(event: Any, hint: Any) -> Any:
                target = event.setdefault("request", {})
                for key, value in describe().items():
                    target.setdefault(key, value)
                return event

            scope.add_event_processor(add_request)
        yield invocation


def capture_error(error: BaseException, *, error_id: str, kind: str) -> str | None:
    """Send ``error`` to Sentry tagged with its ``error_id`` (what the caller sees) and ``kind``; returns the
    event id, or None when Sentry is off or dropped it."""
    if not sentry_enabled():
        return None
    import sentry_sdk

    return sentry_sdk.capture_exception(error, tags={"error_id": error_id, "error_kind": kind})


# --- logging --------------------------------------------------------------------------------------------


def configure_logging(settings: LoggingSettings, *, root: logging.Logger | None = None) -> None:
    """Root level from ``LOG_LEVEL``, a stderr handler when there is none (Lambda has its own), and every
    root handler's output scrubbed."""
    root = root if root is not None else logging.getLogger()
    level = logging.getLevelNamesMapping().get(str(settings.log_level).upper())
    if level is not None:
        root.setLevel(level)
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
    scrub.install_log_scrubbing(root)
