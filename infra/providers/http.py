"""The one retry/backoff HTTP helper for Ballast's control-plane APIs (Neon and Sentry).

Which failures are retried (Neon's published error notes; Sentry behaves the same way):

- 423 Locked (an operation is in progress), 429 Too Many Requests and 503 Service Unavailable say the
  server did *not* act on the request: any request is retried, honouring ``Retry-After``.
- A refused connection or a connect timeout never reached the server: retried for any request.
- Other 5xx, read timeouts and connections dropped after the request was sent are *ambiguous*: the server
  may have acted. They are retried for idempotent requests (every method but POST, unless the caller says
  otherwise). For the rest the raised :class:`ApiError` has ``ambiguous=True`` so the caller can reconcile
  (look the resource up) instead of creating it twice.

Every attempt carries explicit (connect, read) timeouts; all attempts share one deadline; delays grow
exponentially with jitter. Errors are typed (:class:`ApiError`, :class:`NotFound` for 404,
:class:`TransportError` when no response came back) and carry ``status, code, message, request_id``. Their
text never holds the credential, request bodies or response fields other than the server's error message,
and that message goes through :class:`Redactor` (the credential, then ``runtime.scrub.scrub_text``). Sleep,
clock and jitter source are injectable so tests run fast. :func:`recover_create` is the reconciling side
of an ambiguous create: look the resource up, adopt it if it was made, else try again (bounded).
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

import requests

from runtime.scrub import FILTERED, scrub_text

Sleep = Callable[[float], None]
Clock = Callable[[], float]
Jitter = Callable[[], float]
T = TypeVar("T")

# The server did not act on the request: safe to retry whatever the method.
REJECTED_STATUSES = frozenset({423, 429, 503})
# The server may have acted: retried only when repeating the request is harmless.
AMBIGUOUS_STATUSES = frozenset({500, 502, 504})
NON_IDEMPOTENT_METHODS = frozenset({"POST"})
_MAX_MESSAGE_CHARS = 300
_REQUEST_ID_HEADERS = ("X-Request-Id", "X-Neon-Request-Id", "X-Sentry-Request-Id")


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds of one logical request: attempts, backoff, per-attempt timeouts and a total deadline."""

    max_attempts: int = 8
    base_delay_seconds: float = 0.5
    max_delay_seconds: float = 10.0
    deadline_seconds: float = 120.0
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be at least 1")
        for name in ("base_delay_seconds", "max_delay_seconds", "deadline_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"RetryPolicy.{name} must not be negative")
        if self.connect_timeout_seconds <= 0 or self.read_timeout_seconds <= 0:
            raise ValueError("RetryPolicy timeouts must be positive")

    def backoff(self, retry_number: int, jitter: float) -> float:
        """Delay before retry ``retry_number`` (0-based): exponential, capped, half of it jittered."""
        ceiling = min(self.max_delay_seconds, self.base_delay_seconds * (2.0**retry_number))
        return ceiling / 2 + (ceiling / 2) * min(max(jitter, 0.0), 1.0)


class ApiError(Exception):
    """A control-plane request failed; the text names the service, method, path, status and server message."""

    def __init__(
        self,
        *,
        service: str,
        method: str,
        path: str,
        status: int | None,
        code: str,
        message: str,
        request_id: str | None = None,
        attempts: int = 1,
        elapsed_seconds: float = 0.0,
        ambiguous: bool = False,
        note: str = "",
    ) -> None:
        self.service = service
        self.method = method
        self.path = path
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.attempts = attempts
        self.elapsed_seconds = elapsed_seconds
        self.ambiguous = ambiguous
        self.note = note
        super().__init__(self.describe())

    def describe(self) -> str:
        status = f"HTTP {self.status}" if self.status is not None else "no response"
        code = f" {self.code}" if self.code else ""
        text = f"{self.service} API {self.method} {self.path} failed: {status}{code}: {self.message}"
        if self.request_id:
            text += f" (request_id {self.request_id})"
        if self.attempts > 1:
            text += f"; gave up after {self.attempts} attempts in {self.elapsed_seconds:.1f}s"
        if self.note:
            text += f"; {self.note}"
        return text


class NotFound(ApiError):
    """404: the resource does not exist (a delete treats this as done)."""


class TransportError(ApiError):
    """No HTTP response: connection refused or dropped, or a timeout."""


class Redactor:
    """This client's own credentials withheld literally, then the runtime's one scrubber for secret shapes
    (URL passwords, bearer tokens, known key prefixes...)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = tuple(sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, FILTERED)
        return scrub_text(text)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date); None if absent/garbled."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


@dataclass(frozen=True)
class _Failure:
    status: int | None
    code: str
    message: str
    request_id: str | None
    retryable: bool
    ambiguous: bool
    retry_after: float | None = None


class RetryingSession(requests.Session):
    """A ``requests.Session`` whose every request has timeouts, bounded retries and typed errors.

    Non-2xx responses raise :class:`ApiError` instead of being returned, so a client built on top (the
    official ``neon_api.NeonAPI`` included) only ever sees successes. Pass ``idempotent=`` to override the
    per-method default.
    """

    def __init__(
        self,
        *,
        service: str,
        policy: RetryPolicy,
        redactor: Redactor,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
        jitter: Jitter = random.random,
        auth_hint: str = "",
    ) -> None:
        super().__init__()
        self.service = service
        self.policy = policy
        self._redact = redactor
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter
        self._auth_hint = auth_hint

    def __reduce__(self) -> NoReturn:
        raise TypeError("a control-plane session holds a credential and must never be serialised")

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        verb = (method.decode() if isinstance(method, bytes) else method).upper()
        target = url.decode() if isinstance(url, bytes) else url
        path = urlsplit(target).path
        explicit = kwargs.pop("idempotent", None)
        idempotent = verb not in NON_IDEMPOTENT_METHODS if explicit is None else bool(explicit)
        kwargs.pop("timeout", None)  # every attempt gets the policy's timeouts, bounded by the deadline
        policy = self.policy
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            remaining = policy.deadline_seconds - (self._clock() - started)
            read_timeout = max(min(policy.read_timeout_seconds, remaining), 0.05)
            kwargs["timeout"] = (policy.connect_timeout_seconds, read_timeout)
            try:
                response = super().request(verb, target, *args, **kwargs)
            except requests.RequestException as exc:
                failure = self._transport_failure(exc, idempotent)
            else:
                if response.status_code < 400:
                    return response
                failure = self._http_failure(response, idempotent)
                response.close()
            elapsed = self._clock() - started
            if not failure.retryable:
                raise self._error(failure, verb, path, attempt, elapsed)
            if attempt >= policy.max_attempts:
                raise self._error(failure, verb, path, attempt, elapsed, "retries exhausted")
            delay = max(policy.backoff(attempt - 1, self._jitter()), failure.retry_after or 0.0)
            if elapsed + delay > policy.deadline_seconds:
                note = (
                    f"the next retry (in {delay:.1f}s) would pass the {policy.deadline_seconds:g}s deadline"
                )
                raise self._error(failure, verb, path, attempt, elapsed, note)
            self._sleep(delay)

    def _transport_failure(self, exc: requests.RequestException, idempotent: bool) -> _Failure:
        sent = _request_was_sent(exc)
        code = "timeout" if isinstance(exc, requests.Timeout) else "connection_error"
        kind = type(exc).__name__
        message = f"{kind}: the request may have reached the server" if sent else f"{kind}: no connection"
        return _Failure(None, code, message, None, retryable=idempotent or not sent, ambiguous=sent)

    def _http_failure(self, response: requests.Response, idempotent: bool) -> _Failure:
        status = response.status_code
        code, message, request_id = _error_fields(response)
        message = self._redact(message)[:_MAX_MESSAGE_CHARS]
        if status in (401, 403) and self._auth_hint:
            message = f"{message} ({self._auth_hint})" if message else self._auth_hint
        rejected = status in REJECTED_STATUSES
        ambiguous = status in AMBIGUOUS_STATUSES
        retry_after = parse_retry_after(response.headers.get("Retry-After")) if rejected else None
        return _Failure(
            status,
            self._redact(code)[:80],
            message,
            request_id,
            retryable=rejected or (ambiguous and idempotent),
            ambiguous=ambiguous,
            retry_after=retry_after,
        )

    def _error(
        self, failure: _Failure, method: str, path: str, attempts: int, elapsed: float, note: str = ""
    ) -> ApiError:
        error_type: type[ApiError] = ApiError
        if failure.status == 404:
            error_type = NotFound
        elif failure.status is None:
            error_type = TransportError
        return error_type(
            service=self.service,
            method=method,
            path=self._redact(path),
            status=failure.status,
            code=failure.code,
            message=failure.message or "(no message)",
            request_id=failure.request_id,
            attempts=attempts,
            elapsed_seconds=elapsed,
            ambiguous=failure.ambiguous,
            note=note,
        )


class ApiClient:
    """JSON over a :class:`RetryingSession` for one API base URL and one bearer credential."""

    def __init__(
        self,
        *,
        service: str,
        base_url: str,
        credential: str,
        policy: RetryPolicy | None = None,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
        jitter: Jitter = random.random,
        auth_hint: str = "",
        user_agent: str = "ballast-infra",
    ) -> None:
        if not base_url.startswith(("https://", "http://")):
            shown = scrub_text(base_url)[:60]
            raise ValueError(f"{service} API base URL must start with https:// (got {shown!r})")
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.clock = clock
        self.redact = Redactor([credential])
        self.session = RetryingSession(
            service=service,
            policy=self.policy,
            redactor=self.redact,
            sleep=sleep,
            clock=clock,
            jitter=jitter,
            auth_hint=auth_hint,
        )
        self.session.headers.update(
            {"Authorization": f"Bearer {credential}", "Accept": "application/json", "User-Agent": user_agent}
        )

    def __reduce__(self) -> NoReturn:
        raise TypeError("a control-plane client holds a credential and must never be serialised")

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def request_json(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """The decoded JSON body (None for an empty body); raises :class:`ApiError` on failure."""
        response = self.session.request(
            method, self.url(path), json=json, params=params, idempotent=idempotent
        )
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ApiError(
                service=self.service,
                method=method.upper(),
                path=urlsplit(self.url(path)).path,
                status=response.status_code,
                code="invalid_json",
                message="the response body is not JSON",
            ) from None

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request_json("GET", path, params=params)

    def post(self, path: str, json: Any = None, *, idempotent: bool | None = None) -> Any:
        return self.request_json("POST", path, json=json, idempotent=idempotent)

    def patch(self, path: str, json: Any) -> Any:
        return self.request_json("PATCH", path, json=json)

    def put(self, path: str, json: Any) -> Any:
        return self.request_json("PUT", path, json=json)

    def delete(self, path: str) -> Any:
        return self.request_json("DELETE", path)


def recover_create(create: Callable[[], T], find: Callable[[], T | None], *, attempts: int = 3) -> T:
    """Run a non-idempotent create; after an ambiguous failure, adopt what it made or try again (bounded).

    Callers check beforehand that the resource does not exist yet, so anything ``find`` returns is ours.
    """
    for attempt in range(1, attempts + 1):
        try:
            return create()
        except ApiError as exc:
            if not exc.ambiguous:
                raise
            found = find()
            if found is not None:
                return found
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _request_was_sent(exc: requests.RequestException) -> bool:
    """False only when the failure happened before the request could reach the server."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)  # urllib3 MaxRetryError wraps the cause
        return type(reason).__name__ not in {
            "NewConnectionError",
            "ConnectTimeoutError",
            "NameResolutionError",
        }
    return True


def _error_fields(response: requests.Response) -> tuple[str, str, str | None]:
    """(code, message, request_id) from a Neon ``{code, message, request_id}`` or Sentry ``{detail}`` body."""
    request_id = next((response.headers[h] for h in _REQUEST_ID_HEADERS if h in response.headers), None)
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        code = str(body.get("code") or "")
        message = body.get("message") or body.get("detail")
        request_id = str(body.get("request_id") or request_id or "") or None
        if isinstance(message, str) and message:
            return code, message, request_id
        # Field-level validation errors ({"slug": ["..."]}): keep the field names and their complaints.
        complaints = [
            f"{key}: {'; '.join(str(v) for v in value)}"
            for key, value in body.items()
            if isinstance(value, list) and all(isinstance(v, str) for v in value)
        ]
        return code, ", ".join(complaints) or (response.reason or ""), request_id
    return "", response.reason or "", request_id
