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
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlencode, urlsplit

FILTERED = "[Filtered]"
MAX_BODY_BYTES = 1024
TRUNCATED_MARKER = "…[truncated]"
MAX_DEPTH = 32  # deeper than any Sentry event: whatever lies below is withheld rather than walked
MIN_KNOWN_SECRET_LENGTH = 8  # shorter values would blank out ordinary words
RECURRING_TEXT_CACHE_SIZE = 1024  # distinct routes scrub_recurring_text remembers (each at most 200 chars)
_MAX_BODY_SCAN = 16 * MAX_BODY_BYTES
MAX_JSON_IN_STRING = 64 * 1024  # a JSON document in a string larger than this gets the text rules only
_CARD_SIZED = 10**12  # 13 digits and up
BODYLESS_METHODS = frozenset({"GET", "HEAD"})
# Sentry event parts that hold SDK metadata only: walking them costs time and could mangle package names.
EVENT_KEYS_KEPT_AS_IS = frozenset({"sdk", "modules", "debug_meta"})
_EVENT_KEYS_WITH_FRAMES = frozenset({"exception", "threads"})
# Keys only an invocation event has at its top level (function URL / API Gateway v1 and v2, SQS, SNS...).
INVOCATION_EVENT_KEYS = frozenset(
    {"requestContext", "rawPath", "rawQueryString", "routeKey", "httpMethod", "multiValueHeaders", "Records"}
)
INVOCATION_EVENT_MARKER = "[Filtered: the invocation event, sent once as the request]"

# Key names are compared normalised (lower case, letters and digits only): "X-Api-Key" -> "xapikey".
_SENSITIVE_KEY_PARTS = (
    "password", "passwd", "passphrase", "secret", "token", "apikey", "accesskey", "privatekey", "auth",
    "cookie", "session", "dsn", "credential", "creditcard", "cardnumber", "ccnumber", "cvv", "csrf", "xsrf",
    "signature", "sentrykey", "email", "ipaddress", "remoteaddr", "forwardedfor", "realip", "clientip",
    "connectingip", "sourceip", "userip", "remoteip", "iban", "sessid",
)  # fmt: skip
_SENSITIVE_KEYS_EXACT = frozenset(
    {
        "pwd",
        "mysqlpwd",
        "pass",
        "pin",
        "ssn",
        "cvc",
        "jwt",
        "sid",
        "connectsid",
        "username",
        "forwarded",
        "symfony",
    }
)
_NON_ALNUM = re.compile(r"[^a-z0-9]")

# --- shapes of secrets inside text (applied in this order) -------------------------------------------------
# Header values run to the end of the line (a Cookie holds many pairs) but stop at quotes and backslashes,
# so a JSON log line stays valid JSON (quotes may come escaped: a JSON message inside a JSON line).
_HEADER_VALUE = re.compile(
    r"(?i)\b((?:proxy-)?authorization|x-sentry-auth|x-api-key|set-cookie|cookie|forwarded|x-forwarded-for"
    r"|x-original-forwarded-for|x-real-ip|cf-connecting-ip|true-client-ip|x-client-ip|fastly-client-ip"
    r"|x-cluster-client-ip|client-ip|x-envoy-external-address)"
    r"(\\?[\"']?\s*[:=]\s*)(\\?[\"']?)[^\r\n\"'\\]+"
)
_CREDENTIAL_WORDS = (
    r"password|passwd|passphrase|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential"
    r"|session[_-]?id|dsn|csrf|xsrf|sentry[_-]key|signature|credit[_-]?card|card[_-]?number"
    r"|authorization|cookie"
)
# Short names count as a whole word only (or after a prefix: db_pass), so "shipping" or "author" do not.
_SHORT_WORDS = r"pin|ssn|iban|pass|username|user_name|auth|cvc|cvv|otp"
_KEY_NAME = (
    rf"[\w.-]{{0,64}}(?:{_CREDENTIAL_WORDS})[\w.-]{{0,64}}"
    rf"|(?:[\w.-]{{0,64}}[_.-])?(?:{_SHORT_WORDS})(?:[_.-][\w.-]{{0,64}})?"
)
_QUOTED_VALUE = r"\"(?:[^\"\\]|\\.){0,4096}\"|'(?:[^'\\]|\\.){0,4096}'|\\\"(?:[^\"\\]|\\[^\"]){0,4096}\\\""
_KEY_VALUE = re.compile(
    # An ARN's service and resource type (`arn:aws:secretsmanager:…:123456789012:secret:name`) are names.
    r"(?i)(?<!arn:aws:)(?<!arn:aws-cn:)(?<!arn:aws-us-gov:)(?<!:\d{12}:)"
    rf"(?<![\w.-])(\\?[\"']?)({_KEY_NAME})\1(\s*(?:=>|[:=])\s*)"
    rf"({_QUOTED_VALUE}|[^\s,;&\"'<>{{}}()\[\]\\]+)"
)
# `--password hunter2` (the `--password=hunter2` form is a key=value above).
_CLI_OPTION = re.compile(rf"(?i)(?<![\w-])(--(?:{_KEY_NAME}))(\s+)(?!-)({_QUOTED_VALUE}|[^\s\"'<>]+)")
# <password>hunter2</password>
_XML_ELEMENT = re.compile(
    rf"(?i)<((?:[\w.-]{{0,32}}:)?(?:{_KEY_NAME}))(\s[^<>]{{0,256}})?>[^<]{{1,4096}}</\1>"
)
# password%3Dhunter2%26… (a form or query percent-encoded once more): the value runs to the next %26 (&).
_ENCODED_KEY_VALUE = re.compile(
    rf"(?i)(?<![\w.-])({_KEY_NAME})(%3D|%3A)((?:[^\s&\"'<>%]|%(?!26)[0-9A-F]{{2}}){{1,4096}})"
)
# Query parameters that carry credentials or one-time codes (OAuth code/state, signed-URL sig/key...).
_QUERY_CREDENTIAL_PARAMS = (
    r"code|state|sig|signature|key|token|access_token|id_token|refresh_token|client_secret|api_key|apikey"
    r"|password|secret|nonce|otp|auth|x-amz-signature|x-amz-credential|x-amz-security-token"
)
_QUERY_PARAM = re.compile(rf"(?i)((?:[?&;]|&amp;)(?:{_QUERY_CREDENTIAL_PARAMS})=)[^&#\s\"'<>]+")
_QUERY_NAME = re.compile(rf"(?i){_QUERY_CREDENTIAL_PARAMS}")
# Card numbers: 13 to 19 digits, plain or grouped by spaces or dashes (or their URL encodings, + and %20);
# kept unless the Luhn check passes and the number starts like a card network's (timestamps and ids stay).
_CARD = re.compile(r"(?:(?<=%[0-9A-Fa-f]{2})|(?<![0-9]))[0-9](?:(?:[ +-]|%20)?[0-9]){12,18}(?![0-9])")
# Every card grouping has four digits, at most one separator, four more: a cheap scan before the full one.
_CARD_GATE = re.compile(r"[0-9]{4}(?:[ +-]|%20)?[0-9]{4}")
_CARD_PREFIX = re.compile(r"4|5[1-5]|2[2-7]|3[47]|3[0689]|6[0-9]|50")
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
    r"(?<![\w.%+-])(?<!://)[A-Za-z0-9._%+-]+(?:@|%40)"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}\b"
)
_LIBPQ_PASSWORD = re.compile(r"(?i)(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")


_QUOTES = ('\\"', '"', "'")


def _filtered_parameter(match: re.Match[str]) -> str:
    return f"{match.group(1)}{FILTERED}"


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
_HEADER_TRIGGERS = ("authorization", "x-sentry-auth", "x-api-key", "cookie", "forwarded", "-ip", "envoy")
_CREDENTIAL_TRIGGERS = (
    "pass", "pwd", "secret", "token", "key", "credential", "session", "dsn", "csrf", "xsrf", "signature",
    "card", "authorization", "cookie", "pin", "ssn", "iban", "user", "auth", "cvc", "cvv", "otp",
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
    (_CLI_OPTION, lambda m: _filtered_value(m, 3), ("--",)),
    (_XML_ELEMENT, lambda m: f"<{m.group(1)}{m.group(2) or ''}>{FILTERED}</{m.group(1)}>", ("<",)),
    (_ENCODED_KEY_VALUE, lambda m: f"{m.group(1)}{m.group(2)}{FILTERED}", ("%3",)),
    (_QUERY_PARAM, _filtered_parameter, ("?", "&")),
    (_TOKENS, FILTERED, _TOKEN_TRIGGERS),
    (_EMAIL, FILTERED, ("@", "%40")),
)


_ANY_TRIGGER = re.compile(
    "|".join(sorted({re.escape(t) for _, _, triggers in _TEXT_RULES for t in triggers}))
)


class _KnownSecrets:
    """Literal values of this process's secrets, withheld wherever they appear."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        # Bumped after every change of the pattern: answers remembered under an older generation are never
        # used again, even one computed by another thread while a secret was being registered.
        self.generation = 0

    def add(self, *values: str) -> None:
        spelled = {form for value in values for form in spellings(value)}
        fresh = {value for value in spelled if len(value) >= MIN_KNOWN_SECRET_LENGTH} - self._values
        if not fresh:
            return
        with self._lock:
            self._values |= fresh
            # Longest first, so a secret that contains another is withheld whole.
            alternatives = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(value) for value in alternatives))
            self.generation += 1
            _remembered_scrub.cache_clear()  # memory only: the generation already retires them

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None
            self.generation += 1
            _remembered_scrub.cache_clear()

    def scrub(self, text: str) -> str:
        pattern = self._pattern
        return text if pattern is None else pattern.sub(FILTERED, text)

    def __len__(self) -> int:
        return len(self._values)


_known_secrets = _KnownSecrets()


def spellings(value: str) -> set[str]:
    """How ``value`` may appear in text: as is, escaped by ``repr`` (an exception's repr, once or nested in a
    container's repr) or JSON, and percent-encoded (a URL or form)."""
    forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    forms |= {quote(value, safe=""), quote_plus(value), quote(value, safe="/:@")}
    for once in (repr(value)[1:-1], value.replace("\\", "\\\\")):
        forms |= {once, repr(once)[1:-1], once.replace("'", "\\'"), once.replace('"', '\\"')}
    return forms


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
    if _ANY_TRIGGER.search(lowered):  # most log lines hold none: one scan instead of one per rule
        for pattern, replacement, triggers in _TEXT_RULES:
            if any(trigger in lowered for trigger in triggers):
                text = pattern.sub(replacement, text)
    if _CARD_GATE.search(text):
        text = _CARD.sub(_filtered_card, text)
    return _known_secrets.scrub(text)


def scrub_recurring_text(text: str) -> str:
    """``scrub_text`` for values that recur from request to request (a route, a method): remembered, so the
    usual answer is a lookup; an answer given before a secret was registered is not used again."""
    return _remembered_scrub(text, _known_secrets.generation)


@functools.lru_cache(maxsize=RECURRING_TEXT_CACHE_SIZE)
def _remembered_scrub(text: str, generation: int) -> str:
    return scrub_text(text)


def _filtered_card(match: re.Match[str]) -> str:
    return FILTERED if is_card_number(match.group(0)) else match.group(0)


def is_card_number(text: str) -> bool:
    """Whether ``text`` (digits, maybe grouped by spaces or dashes) is a plausible payment card number:
    13 to 19 digits, a card network's prefix, and a valid Luhn check digit."""
    digits = text.replace("%20", "").replace(" ", "").replace("-", "").replace("+", "")
    if not (13 <= len(digits) <= 19 and digits.isdigit() and _CARD_PREFIX.match(digits)):
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = int(char)
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


@functools.lru_cache(maxsize=2048)
def is_sensitive_key(key: str) -> bool:
    """Whether a value filed under ``key`` is withheld whole (secrets, credentials, personal data)."""
    normalised = _NON_ALNUM.sub("", key.lower())
    return normalised in _SENSITIVE_KEYS_EXACT or any(part in normalised for part in _SENSITIVE_KEY_PARTS)


def scrub_value(value: Any, *, _depth: int = 0) -> Any:
    """A scrubbed copy of ``value``: strings by shape (a JSON document inside a string by its keys too),
    mappings by key and shape, lists item by item, integers that are card numbers withheld."""
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, str):
        return _scrub_string(value, _depth)
    if isinstance(value, int) and not isinstance(value, bool):
        return FILTERED if _CARD_SIZED <= abs(value) < 10**19 and is_card_number(str(abs(value))) else value
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


def _scrub_string(text: str, depth: int) -> Any:
    # Escaped JSON inside a string (a body, a message's payload) is scrubbed by its keys as well: parsed,
    # scrubbed as data, written back. Large or invalid documents get the text rules only.
    stripped = text.lstrip()
    if stripped[:1] in ("{", "[") and len(text) <= MAX_JSON_IN_STRING and depth < MAX_DEPTH:
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):
            document = None
        if isinstance(document, dict | list):
            return json.dumps(scrub_value(document, _depth=depth + 1), ensure_ascii=False)
    return scrub_text(text)


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
    query = request.get("query_string")
    if isinstance(query, str):
        scrubbed["query_string"] = scrub_query_string(query)
    data = request.get("data")
    if keeps_body and data not in (None, "", b"", {}, []):
        if isinstance(data, str | bytes):
            data = data[:_MAX_BODY_SCAN]  # bounded work; everything past MAX_BODY_BYTES is dropped anyway
        scrubbed["data"] = cut_body(scrub_value(data))
    return scrubbed


def scrub_query_string(query: str) -> str:
    """``a=1&code=…``: credential parameters withheld, other values scrubbed as the text they decode to."""
    pairs = parse_qsl(query[:_MAX_BODY_SCAN], keep_blank_values=True)
    if not pairs:
        return scrub_text(query)
    scrubbed = [
        (name, FILTERED if _QUERY_NAME.fullmatch(name) or is_sensitive_key(name) else scrub_text(value))
        for name, value in pairs
    ]
    return urlencode(scrubbed, safe="[]")


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
        elif key in _EVENT_KEYS_WITH_FRAMES and isinstance(value, Mapping):
            scrubbed[key] = scrub_value(_without_invocation_events(value))
        else:
            scrubbed[key] = scrub_value(value)
    return scrubbed


def looks_like_invocation_event(value: object) -> bool:
    """A Lambda invocation event (function URL, API Gateway, SQS/SNS records...)."""
    return isinstance(value, Mapping) and any(
        isinstance(key, str) and key in INVOCATION_EVENT_KEYS for key in value
    )


def _without_invocation_events(part: Mapping[str, Any]) -> dict[str, Any]:
    """``exception`` or ``threads`` with every frame's variables cut to ``MAX_BODY_BYTES`` each, and any copy
    of the invocation event among them (``event``, or inside ``args``) replaced by a marker.

    Dropped, not scrubbed: the event already travels once as ``request`` (scrubbed, body only for non-GET
    methods, cut to 1 KB); a second, uncut copy in every frame is only another way to leak it."""
    values = part.get("values")
    if not isinstance(values, list):
        return dict(part)
    return {**part, "values": [_frames_trimmed(item) for item in values]}


def _frames_trimmed(item: Any) -> Any:
    stacktrace = item.get("stacktrace") if isinstance(item, Mapping) else None
    if not isinstance(stacktrace, Mapping) or not isinstance(stacktrace.get("frames"), list):
        return item
    frames = stacktrace["frames"]
    trimmed = []
    for frame in frames:
        variables = frame.get("vars") if isinstance(frame, Mapping) else None
        if isinstance(variables, Mapping):
            frame = {**frame, "vars": {name: _frame_variable(var) for name, var in variables.items()}}
        trimmed.append(frame)
    return {**item, "stacktrace": {**stacktrace, "frames": trimmed}}


def _frame_variable(value: Any, depth: int = 0) -> Any:
    if looks_like_invocation_event(value):
        return INVOCATION_EVENT_MARKER
    if isinstance(value, list | tuple) and depth < 2:  # e.g. args=(event, context)
        value = [_frame_variable(item, depth + 1) for item in value]
    elif isinstance(value, Mapping) and depth < 2:
        value = {key: _frame_variable(item, depth + 1) for key, item in value.items()}
    if depth:
        return value
    return cut_body(scrub_value(value))


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
