"""Sentry for the runtime: initialised once per process, scrubbed, and flushed within a short bound.

* environment = the stage; release = ``SENTRY_RELEASE`` (``settings.sentry_release``) or, on Lambda, the
  published function version as ``<function name>@<version>`` (``$LATEST`` is not a release: then none);
* PII: the SDK's defaults stay off (``send_default_pii`` is left unset: it is deprecated in sentry-sdk 2.75
  and unset means off), and every event and breadcrumb passes through ``runtime.scrub`` (``before_send`` /
  ``before_breadcrumb``) — beyond the SDK's ``EventScrubber``, which leaves contexts, messages and exception
  values alone;
* logging: breadcrumbs from ``WARNING`` up in production (``INFO`` elsewhere), events from ``ERROR`` up;
* no AWS Lambda integration (it is not a default one, so it is simply never listed): ``@lambda_handler``
  owns the per-invocation work the SDK's ``AwsLambdaIntegration`` would do — an isolated scope, the request
  (a function URL's v2 event, which the integration reads as v1) and the Lambda context, a bounded flush, a
  timeout warning — once; the integration would redo it and add an unconditional flush before every result.
  ``auto_enabling_integrations`` is off: probing ~40 framework integrations costs ~90 ms of cold start;
* no DSN: Sentry stays off (sentry_sdk is not even imported), with a warning outside production.

Flushing — one bounded wait per response, owned by the decorator:
* ``flush()`` waits at most ``settings.sentry_flush_timeout_seconds`` (default 2 s, capped at 5 s);
* the decorator flushes at the end of every invocation, and that flush waits only when the invocation
  captured an event (nothing else is worth holding a response for);
* ``shutdown_timeout`` is 0: no atexit drain (a Lambda process is frozen or killed, rarely exits).

Timeout warning: an invocation still running when only the flush bound is left before its Lambda timeout is
reported (a warning event in its own scope, and a log line) by the runtime's watchdog thread
(``runtime.deadlines``), so a hung request is not just a bare Lambda timeout. Database calls give up earlier
(``runtime.db``), so a hang in the database ends as a 503 with its own event instead.
Events are sent by the SDK's background worker. A black-holed Sentry (connection accepted, never answered)
keeps that worker blocked for up to the transport's 30 s socket timeout: a failing request's flush then waits
its full bound and returns — late by at most the bound, never stalled; requests that capture nothing are not
delayed at all; events beyond the worker's queue (100) are dropped rather than held. No transaction is
started per invocation (the Lambda integration did that): ``SENTRY_TRACES_SAMPLE_RATE`` samples the
transactions a function starts itself, which go out in the background, best effort.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from runtime import constants, deadlines, scrub

if TYPE_CHECKING:
    from pydantic import SecretStr

DEFAULT_FLUSH_TIMEOUT_SECONDS = constants.DEFAULT_SENTRY_FLUSH_TIMEOUT_SECONDS
MAX_FLUSH_TIMEOUT_SECONDS = constants.MAX_SENTRY_FLUSH_TIMEOUT_SECONDS
TIMEOUT_WARNING_KIND = "timeout_warning"
LATEST_FUNCTION_VERSION = "$LATEST"
# The decorator logs unhandled errors here and captures them itself: Sentry must not turn the log line into
# a second event.
ERRORS_LOGGER = "runtime.errors"
# Loggers that report an exception @lambda_handler captures itself (with its error ID): their error log must
# not become a second, untagged Sentry event. Powertools' resolver logs a route's exception, then re-raises.
DUPLICATE_ERROR_LOGGERS = (ERRORS_LOGGER, "aws_lambda_powertools.event_handler.api_gateway")
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
    for name in DUPLICATE_ERROR_LOGGERS:
        ignore_logger(name)
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

Describe = Callable[[], Mapping[str, Any]]


class Invocation:
    """One invocation's Sentry work, as a context manager: an isolated scope (fresh breadcrumbs, the
    ``request_id`` tag, the request and Lambda context added only when an event is sent), a timeout warning
    armed until ``handler_done()``, and ``flush()`` that waits only when the invocation captured an event.
    Without Sentry only the timeout warning's log line remains.

    The scopes are what ``sentry_sdk.isolation_scope()`` sets up (a fork of the isolation and of the current
    scope), without its generator context manager and token bookkeeping. Not a reused scope cleared per
    invocation: ``Scope.clear()`` (sentry-sdk 2.75) leaves the event and error processors (and two
    integrations' fields) in place, so reuse needs private attributes, and it measured ~2.5 us against ~2.8 us
    for the two forks."""

    __slots__ = (
        "_describe",
        "_ends_at",
        "_previous_current",
        "_previous_isolation",
        "_request_id",
        "_warning",
        "events_at_start",
    )

    def __init__(
        self, request_id: str, describe: Describe | None = None, *, ends_at: float | None = None
    ) -> None:
        self._request_id = request_id
        self._describe = describe
        self._ends_at = ends_at
        self._previous_isolation: Any = None  # set while this invocation's scopes are in place
        self._previous_current: Any = None
        self._warning: _TimeoutWarning | None = None
        self.events_at_start = 0

    def __enter__(self) -> Invocation:
        self.events_at_start = _events_prepared.value
        state = _state
        if state is None:
            return self
        scope = None
        if state.enabled:
            Scope = _sentry_scope_class()
            self._previous_isolation = previous = Scope.get_isolation_scope()
            self._previous_current = current = Scope.get_current_scope()
            scope = previous.fork()
            scope.clear_breadcrumbs()  # the fork copies the cold start's breadcrumbs
            scope.set_tag("request_id", self._request_id)
            if self._describe is not None:
                scope.add_event_processor(_request_processor(self._describe))
            Scope.set_isolation_scope(scope)
            Scope.set_current_scope(current.fork())  # the handler's spans stay its own
        if self._ends_at is not None:
            warn_at = self._ends_at - state.flush_timeout_seconds
            if warn_at > time.monotonic():
                self._warning = _TimeoutWarning(warn_at, self._ends_at, self._request_id, scope)
                deadlines.watch(self._warning)
        return self

    def handler_done(self) -> None:
        """The handler returned (or raised): no timeout warning from here on (the flush may still wait)."""
        if self._warning is not None:
            deadlines.unwatch(self._warning)
            self._warning = None

    def captured_events(self) -> int:
        return _events_prepared.value - self.events_at_start

    def flush(self) -> None:
        """The end-of-invocation flush: bounded, and waits only when this invocation captured an event."""
        if _events_prepared.value != self.events_at_start:
            flush()

    def __exit__(self, *exc: object) -> None:
        self.handler_done()
        previous = self._previous_isolation
        if previous is not None:
            Scope = _sentry_scope_class()
            Scope.set_current_scope(self._previous_current)
            Scope.set_isolation_scope(previous)
            self._previous_isolation = self._previous_current = None


def _sentry_scope_class() -> Any:
    """``sentry_sdk.scope.Scope``, imported once (a ``from … import`` statement costs ~1 us per request)."""
    global _scope_class
    if _scope_class is None:
        from sentry_sdk.scope import Scope

        _scope_class = Scope
    return _scope_class


_scope_class: Any = None


def invocation_scope(
    request_id: str, describe: Describe | None = None, *, ends_at: float | None = None
) -> Invocation:
    """``with invocation_scope(request_id, describe, ends_at=...) as invocation:`` (see ``Invocation``);
    ``describe()`` returns what to add to an event when one is sent (``{"request": {...}, ...}``)."""
    return Invocation(request_id, describe, ends_at=ends_at)


def _request_processor(describe: Describe) -> Callable[[Any, Any], Any]:
    def add_request(event: Any, hint: Any) -> Any:
        for key, value in describe().items():
            target = event.setdefault(key, {})
            for name, item in value.items():
                target.setdefault(name, item)
        return event

    return add_request


class _TimeoutWarning:
    """Armed with the watchdog for each invocation: at ``deadline`` (the Lambda timeout less the flush
    bound) the invocation is still running, so it is reported while there is time to send the report."""

    __slots__ = ("_ends_at", "_request_id", "_scope", "deadline")

    def __init__(self, deadline: float, ends_at: float, request_id: str, scope: Any) -> None:
        self.deadline = deadline
        self._ends_at = ends_at
        self._request_id = request_id
        self._scope = scope

    def expire(self) -> None:
        """On the watchdog thread: log and capture only (the SDK's worker sends it; nothing here waits)."""
        left = max(0.0, self._ends_at - time.monotonic())
        message = f"invocation is about to hit its Lambda timeout ({left:.1f} s left)"
        logger.warning("%s (request %s)", message, self._request_id)
        if self._scope is None or not sentry_enabled():
            return
        import sentry_sdk
        from sentry_sdk.scope import use_isolation_scope

        with use_isolation_scope(self._scope):
            sentry_sdk.capture_message(message, level="warning", tags={"error_kind": TIMEOUT_WARNING_KIND})


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
