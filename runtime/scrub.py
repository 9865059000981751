"""The one scrubber: what must never leave the process, for log lines and Sentry events alike.

Two complementary rules, applied recursively to strings, dicts and lists:

* by **key**: a value filed under a sensitive name (``password``, ``secret``, ``token``, ``api_key``,
  ``dsn``, ``authorization``, ``cookie``, ``session``, ``credit_card``, ``email``, ``ip_address``...) is
  withheld whole;
* by **shape**, inside any text: URL passwords (``postgresql://user:[Filtered]@host``), libpq and form
  ``password=...`` pairs, ``Authorization``/``Cookie``/``Set-Cookie`` header values, ``Bearer`` tokens, JWTs,
  well-known API-key prefixes (``sk_``, ``ghp_``, ``xoxb-``, ``AKIA``, ``sntrys_``, ``npg_``...), Sentry DSN
  keys and email addresses;
* plus the **known secrets** of this process (``register_secret``: the app secret, database passwords, the DSN
  key), withheld literally wherever they turn up, whatever the shape around them.

Sentry gets ``scrub_event``/``scrub_breadcrumb`` (``before_send``/``before_breadcrumb``); logs get
``ScrubbingFormatter``, which scrubs each finished line (message, traceback, stack) whatever the inner format.
Request bodies survive only on non-GET requests, redacted and cut to ``MAX_BODY_BYTES``.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

FILTERED = "[Filtered]"
MAX_BODY_BYTES = 1024
TRUNCATED_MARKER = "…[truncated]"
MAX_DEPTH = 32  # deeper than any Sentry event: whatever lies below is withheld rather than walked
MIN_KNOWN_SECRET_LENGTH = 8  # shorter values would blank out ordinary words
_MAX_BODY_SCAN = 16 * MAX_BODY_BYTES
BODYLESS_METHODS = frozenset({"GET", "HEAD"})
# Sentry event parts that hold SDK metadata only: walking them costs time and could mangle package names.
EVENT_KEYS_KEPT_AS_IS = frozenset({"sdk", "modules", "debug_meta"})

# Key names are compared normalised (lower case, letters and digits only): "X-Api-Key" -> "xapikey".
_SENSITIVE_KEY_PARTS = (
    "password", "passwd", "passphrase", "secret", "token", "apikey", "accesskey", "privatekey", "auth",
    "cookie", "session", "dsn", "credential", "creditcard", "cardnumber", "ccnumber", "cvv", "csrf", "xsrf",
    "signature", "sentrykey", "email", "ipaddress", "remoteaddr", "forwardedfor", "realip",
)  # fmt: skip
_SENSITIVE_KEYS_EXACT = frozenset({"pwd", "pass", "pin", "ssn", "cvc", "iban", "jwt", "sid", "username"})
_NON_ALNUM = re.compile(r"[^a-z0-9]")

# --- shapes of secrets inside text (applied in this order) -------------------------------------------------
# Header values run to the end of the line (a Cookie holds many pairs) but stop at quotes and backslashes,
# so a JSON log line stays valid JSON (quotes may come escaped: a JSON message inside a JSON line).
_HEADER_VALUE = re.compile(
    r"(?i)\b((?:proxy-)?authorization|x-sentry-auth|x-api-key|set-cookie|cookie)"
    r"(\\?[\"']?\s*[:=]\s*)(\\?[\"']?)[^\r\n\"'\\]+"
)
_CREDENTIAL_WORDS = (
    r"password|passwd|passphrase|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential"
    r"|session[_-]?id|dsn|csrf|xsrf|sentry[_-]key|signature|credit[_-]?card|card[_-]?number"
    r"|authorization|cookie"
)
_KEY_VALUE = re.compile(
    # An ARN's service and resource type (`arn:aws:secretsmanager:…:123456789012:secret:name`) are names.
    r"(?i)(?<!arn:aws:)(?<!arn:aws-cn:)(?<!arn:aws-us-gov:)(?<!:\d{12}:)"
    rf"(?<![\w.-])(\\?[\"']?)([\w.-]{{0,64}}(?:{_CREDENTIAL_WORDS})[\w.-]{{0,64}})\1(\s*[:=]\s*)"
    r"(\"(?:[^\"\\]|\\.){0,4096}\"|'(?:[^'\\]|\\.){0,4096}'|\\\"(?:[^\"\\]|\\[^\"]){0,4096}\\\""
    r"|[^\s,;&\"'<>{}()\[\]\\]+)"
)
# Quantifiers are bounded (key names, quoted values) so no input makes the scan quadratic.
# A Sentry DSN key or any long token used as the whole userinfo of a URL.
_URL_KEY_USER = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,30}://)[A-Za-z0-9_-]{20,}(?::[A-Za-z0-9_-]*)?@")
# URL password: as libpq reads it, up to the '@' (never across '/', whitespace or quotes).
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,30}://[^\s:/@\"'\\]*):[^\s@/\"'\\]+@")
_BEARER = re.compile(r"(?i)\b(bearer)(\s+)[A-Za-z0-9._~+/=-]{6,}")
_TOKENS = re.compile(
    r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"  # JWT
    r"|\b(?:sk|rk|pk)_[A-Za-z0-9_]{16,}"  # Stripe-style secret/restricted keys
    r"|\bsk-[A-Za-z0-9_-]{20,}"  # OpenAI-style keys
    r"|\bgh[pousr]_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{30,}"  # GitHub
    r"|\bglpat-[A-Za-z0-9_-]{20,}"  # GitLab
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,}"  # Slack
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"  # AWS access key ids
    r"|\bAIza[0-9A-Za-z_-]{35}"  # Google API keys
    r"|\bsntry[su]_[A-Za-z0-9_=+/.-]{20,}"  # Sentry auth tokens
    r"|\bnpg_[A-Za-z0-9]{8,}"  # Neon role passwords
)
_EMAIL = re.compile(
    r"(?<![\w.%+-])(?<!://)[A-Za-z0-9._%+-]+@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}\b"
)
_LIBPQ_PASSWORD = re.compile(r"(?i)(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")


_QUOTES = ('\\"', '"', "'")


def _filtered_value(match: re.Match[str], value_group: int) -> str:
    """The match with its value group replaced, keeping the quotes of a quoted value (JSON stays JSON)."""
    value = match.group(value_group)
    quote = next(
        (q for q in _QUOTES if len(value) > len(q) and value.startswith(q) and value.endswith(q)), ""
    )
    offset = match.start()
    start, end = match.span(value_group)
    text = match.group(0)
    return f"{text[: start - offset]}{quote}{FILTERED}{quote}{text[end - offset :]}"


# Each rule runs only when one of its trigger words (lower case) is in the text: most log lines hold none,
# and a substring test is far cheaper than a regex scan.
_URL_TRIGGERS = ("://",)
_HEADER_TRIGGERS = ("authorization", "x-sentry-auth", "x-api-key", "cookie")
_CREDENTIAL_TRIGGERS = (
    "pass", "pwd", "secret", "token", "key", "credential", "session", "dsn", "csrf", "xsrf", "signature",
    "card", "authorization", "cookie",
)  # fmt: skip
_TOKEN_TRIGGERS = (
    "eyj", "sk_", "rk_", "pk_", "sk-", "gh", "glpat-", "xox", "akia", "asia", "aiza", "sntry", "npg_",
)  # fmt: skip
_TEXT_RULES: tuple[tuple[re.Pattern[str], Any, tuple[str, ...]], ...] = (
    (_HEADER_VALUE, lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}{FILTERED}", _HEADER_TRIGGERS),
    (_URL_KEY_USER, lambda m: f"{m.group(1)}{FILTERED}@", _URL_TRIGGERS),
    (_URL_PASSWORD, lambda m: f"{m.group(1)}:{FILTERED}@", _URL_TRIGGERS),
    (_BEARER, lambda m: f"{m.group(1)}{m.group(2)}{FILTERED}", ("bearer",)),
    (_KEY_VALUE, lambda m: _filtered_value(m, 4), _CREDENTIAL_TRIGGERS),
    (_TOKENS, FILTERED, _TOKEN_TRIGGERS),
    (_EMAIL, FILTERED, ("@",)),
)


class _KnownSecrets:
    """Literal values of this process's secrets, withheld wherever they appear."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, *values: str) -> None:
        fresh = {value for value in values if len(value) >= MIN_KNOWN_SECRET_LENGTH} - self._values
        if not fresh:
            return
        with self._lock:
            self._values |= fresh
            # Longest first, so a secret that contains another is withheld whole.
            alternatives = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(value) for value in alternatives))

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None

    def scrub(self, text: str) -> str:
        pattern = self._pattern
        return text if pattern is None else pattern.sub(FILTERED, text)

    def __len__(self) -> int:
        return len(self._values)


_known_secrets = _KnownSecrets()


def register_secret(value: str | None) -> None:
    """Withhold ``value`` literally from now on, and the password/key parts of it if it is a URL or DSN."""
    if value:
        _known_secrets.add(value, *secret_parts(value))


def forget_registered_secrets() -> None:
    """Drop every registered secret (tests)."""
    _known_secrets.clear()


def registered_secret_count() -> int:
    return len(_known_secrets)


def secret_parts(value: str) -> list[str]:
    """The credential parts of a connection string: URL passwords (raw and decoded), DSN keys, libpq
    passwords."""
    parts: list[str] = []
    if "://" in value:
        try:
            url = urlsplit(value.strip())
        except ValueError:
            url = None
        userinfo = url.netloc.rpartition("@")[0] if url is not None else ""
        user, _, password = userinfo.partition(":")
        if password:
            parts += [password, unquote(password)]
        elif len(user) >= 20:  # a DSN's public key
            parts.append(user)
    for match in _LIBPQ_PASSWORD.finditer(value):
        raw = match.group(1)
        parts.append(raw[1:-1].replace("\\'", "'").replace("\\\\", "\\") if raw.startswith("'") else raw)
    return parts


def scrub_text(text: str) -> str:
    """``text`` with every recognised secret or email replaced by ``[Filtered]``."""
    lowered = text.lower()
    for pattern, replacement, triggers in _TEXT_RULES:
        if any(trigger in lowered for trigger in triggers):
            text = pattern.sub(replacement, text)
    return _known_secrets.scrub(text)


@functools.lru_cache(maxsize=2048)
def is_sensitive_key(key: str) -> bool:
    """Whether a value filed under ``key`` is withheld whole (secrets, credentials, personal data)."""
    normalised = _NON_ALNUM.sub("", key.lower())
    return normalised in _SENSITIVE_KEYS_EXACT or any(part in normalised for part in _SENSITIVE_KEY_PARTS)


def scrub_value(value: Any, *, _depth: int = 0) -> Any:
    """A scrubbed copy of ``value``: strings by shape, mappings by key and shape, lists item by item."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, bytes | bytearray):
        return scrub_text(bytes(value).decode("utf-8", errors="replace"))
    if _depth >= MAX_DEPTH and isinstance(value, Mapping | list | tuple):
        return FILTERED
    if isinstance(value, Mapping):
        return {
            (scrub_text(key) if isinstance(key, str) else key): _scrub_item(key, item, _depth)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub_value(item, _depth=_depth + 1) for item in value]
    return value


def _scrub_item(key: object, item: Any, depth: int) -> Any:
    if isinstance(key, str) and is_sensitive_key(key) and item is not None and not isinstance(item, bool):
        return FILTERED
    return scrub_value(item, _depth=depth + 1)


def scrub_request(request: Mapping[str, Any]) -> dict[str, Any]:
    """A Sentry ``request``: headers, cookies and query by the usual rules; the body kept only for non-GET
    methods, redacted, then cut to ``MAX_BODY_BYTES``."""
    method = request.get("method")
    keeps_body = isinstance(method, str) and method.upper() not in BODYLESS_METHODS
    scrubbed: dict[str, Any] = scrub_value({key: value for key, value in request.items() if key != "data"})
    data = request.get("data")
    if keeps_body and data not in (None, "", b"", {}, []):
        if isinstance(data, str | bytes):
            data = data[:_MAX_BODY_SCAN]  # bounded work; everything past MAX_BODY_BYTES is dropped anyway
        scrubbed["data"] = cut_body(scrub_value(data))
    return scrubbed


def cut_body(body: Any) -> Any:
    """``body`` as is when its JSON (or text) form fits in ``MAX_BODY_BYTES``, else that form cut to fit."""
    text = body if isinstance(body, str) else json.dumps(body, default=str, separators=(",", ":"))
    encoded = text.encode("utf-8")
    if len(encoded) <= MAX_BODY_BYTES:
        return body
    room = MAX_BODY_BYTES - len(TRUNCATED_MARKER.encode("utf-8"))
    return encoded[:room].decode("utf-8", errors="ignore") + TRUNCATED_MARKER


def scrub_event(event: dict[str, Any], hint: object = None) -> dict[str, Any]:
    """``before_send``: the whole event scrubbed (messages, exception values and frame variables,
    breadcrumbs, contexts, extra, tags, request, user), SDK metadata left as is."""
    scrubbed: dict[str, Any] = {}
    for key, value in event.items():
        if key in EVENT_KEYS_KEPT_AS_IS:
            scrubbed[key] = value
        elif key == "request" and isinstance(value, Mapping):
            scrubbed[key] = scrub_request(value)
        else:
            scrubbed[key] = scrub_value(value)
    return scrubbed


def scrub_breadcrumb(crumb: dict[str, Any], hint: object = None) -> dict[str, Any]:
    """``before_breadcrumb``: message and data scrubbed."""
    scrubbed: dict[str, Any] = scrub_value(crumb)
    return scrubbed


class ScrubbingFormatter(logging.Formatter):
    """Formats with ``inner`` (default: the stdlib format), then scrubs the finished line — message, traceback
    and stack alike, whatever the inner formatter draws from the record."""

    def __init__(self, inner: logging.Formatter | None = None) -> None:
        super().__init__()
        self.inner = inner if inner is not None else logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return scrub_text(self.inner.format(record))


def install_log_scrubbing(logger: logging.Logger | None = None) -> int:
    """Wrap the formatter of every handler of ``logger`` (default: root) in a ``ScrubbingFormatter``.

    Idempotent; returns how many handlers it wrapped now. Handlers added later, or on other loggers, need
    their own ``ScrubbingFormatter``.
    """
    logger = logger if logger is not None else logging.getLogger()
    wrapped = 0
    for handler in logger.handlers:
        if not isinstance(handler.formatter, ScrubbingFormatter):
            handler.setFormatter(ScrubbingFormatter(handler.formatter))
            wrapped += 1
    return wrapped


def register_secrets_of(settings: object) -> int:
    """Register every secret field (anything with ``get_secret_value``) of a pydantic settings object.

    Returns how many fields held a secret.
    """
    found = 0
    for name in getattr(type(settings), "model_fields", {}):
        value = getattr(settings, name, None)
        reveal = getattr(value, "get_secret_value", None)
        if callable(reveal):
            secret = reveal()
            if isinstance(secret, str) and secret:
                register_secret(secret)
                found += 1
    return found
