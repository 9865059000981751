"""Property-based tests of the scrubber: a generated secret planted anywhere in a generated Sentry event (or
breadcrumb, or log line) never survives ``scrub_event``; any JSON-like event is scrubbed without raising."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime import scrub
from tests.hypothesis_profiles import examples

pytestmark = pytest.mark.timeout(180)

CREDENTIAL_NAMES = [
    "password", "db_password", "passwd", "secret", "client_secret", "api_key", "apiKey", "X-Api-Key", "token",
    "access_token", "auth", "authorization", "pin", "ssn", "iban", "pass", "username", "session_id", "dsn",
]  # fmt: skip
IP_HEADERS = [
    "cf-connecting-ip",
    "true-client-ip",
    "x-client-ip",
    "forwarded",
    "fastly-client-ip",
    "x-real-ip",
]
PLAIN_KEYS = st.sampled_from(["note", "items", "detail", "payload", "value", "data", "attrs", "meta"])
TOKEN = st.from_regex(r"zq[A-Za-z0-9]{8,22}", fullmatch=True)  # "zq": never part of the event template


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(["4", "51", "55", "2221", "34", "37", "6011", "65"]))
    length = 15 if prefix in ("34", "37") else 16
    body = prefix + "".join(str(draw(st.integers(0, 9))) for _ in range(length - len(prefix) - 1))
    total = 0
    for index, char in enumerate(reversed(body + "0")):
        digit = int(char)
        total += (digit * 2 - 9 if digit > 4 else digit * 2) if index % 2 else digit
    digits = body + str((10 - total % 10) % 10)
    separator = draw(st.sampled_from(["", " ", "-"]))
    if not separator:
        return digits
    groups = [digits[i : i + 4] for i in range(0, len(digits), 4)]
    return separator.join(groups)


@st.composite
def planted(draw: st.DrawFn) -> tuple[str, Any, list[str]]:
    """(kind, what to plant — a string or a one-key mapping, the secrets that must not survive)."""
    kind = draw(st.sampled_from(["card", "key=value", "by-key", "client-ip", "email", "registered", "url"]))
    if kind == "card":
        card = draw(card_numbers())
        return kind, f"paid with {card}", [card]
    if kind == "key=value":
        name, value = draw(st.sampled_from(CREDENTIAL_NAMES)), draw(TOKEN)
        shape = draw(st.sampled_from(["{k}={v}", "{k}: {v}", '"{k}": "{v}"', "{k} => {v}", "<{k}>{v}</{k}>"]))
        return kind, "got " + shape.format(k=name, v=value) + " here", [value]
    if kind == "by-key":
        name, value = draw(st.sampled_from(CREDENTIAL_NAMES)), draw(TOKEN)
        return kind, {name: value}, [value]
    if kind == "client-ip":
        address = ".".join(str(draw(st.integers(1, 254))) for _ in range(4))
        return kind, {draw(st.sampled_from(IP_HEADERS)): address}, [address]
    if kind == "email":
        user = draw(st.from_regex(r"[a-z]{3,10}\.[a-z]{3,10}", fullmatch=True))
        email = f"{user}@example.org"
        return kind, draw(st.sampled_from([email, quote(email, safe="")])), [user]
    if kind == "url":
        password = draw(TOKEN)
        return kind, f"cannot reach postgresql://app:{password}@db.example.com/app", [password]
    secret = draw(st.text(st.sampled_from("abcXYZ0189'\"\\/%&=+ é\t"), min_size=10, max_size=24))
    scrub.register_secret(secret)
    form = draw(st.sampled_from(["raw", "repr", "json", "percent"]))
    shown = {
        "raw": secret,
        "repr": repr(ValueError(secret)),
        "json": json.dumps({"s": secret}),
        "percent": quote(secret, safe=""),
    }[form]
    return kind, f"failed: {shown}", [secret]


@st.composite
def nested(draw: st.DrawFn, leaf: Any) -> Any:
    """``leaf`` buried in up to four levels of ordinary dicts and lists."""
    value = leaf
    for _ in range(draw(st.integers(0, 4))):
        value = {draw(PLAIN_KEYS): value, "n": 1} if draw(st.booleans()) else ["x", value]
    return value


def _frame(variables: dict[str, Any]) -> dict[str, Any]:
    frame = {"function": "handle", "module": "app", "lineno": 1, "vars": variables}
    return {"values": [{"type": "RuntimeError", "value": "boom", "stacktrace": {"frames": [frame]}}]}


@st.composite
def events_with(draw: st.DrawFn, plant: Any) -> dict[str, Any]:
    text = plant if isinstance(plant, str) else json.dumps(plant)
    place = draw(
        st.sampled_from(
            [
                "message",
                "logentry",
                "breadcrumb",
                "extra",
                "contexts",
                "tags",
                "headers",
                "body",
                "body-json",
                "get-body",
                "query",
                "frame",
                "frame-event",
                "exception-value",
            ]
        )
    )
    event: dict[str, Any] = {"event_id": "e-1", "level": "error", "platform": "python"}
    buried = draw(nested(plant))
    if place == "message":
        event["message"] = text
    elif place == "logentry":
        event["logentry"] = {"message": "failed %s", "params": [text if isinstance(plant, str) else plant]}
    elif place == "breadcrumb":
        event["breadcrumbs"] = {"values": [{"message": "step", "data": {"detail": buried}, "category": "x"}]}
    elif place == "extra":
        event["extra"] = {"state": buried}
    elif place == "contexts":
        event["contexts"] = {"app": {"detail": buried}}
    elif place == "tags":
        event["tags"] = {"note": text}
    elif place in ("headers", "body", "body-json", "get-body", "query"):
        request: dict[str, Any] = {
            "method": "GET" if place == "get-body" else "POST",
            "url": "https://x.io/a",
        }
        if place == "headers":
            request["headers"] = plant if isinstance(plant, dict) else {"x-note": text}
        elif place == "query":
            request["query_string"] = f"page=2&note={quote(text)}"
        else:
            request["data"] = json.dumps({"payload": buried}) if place == "body-json" else buried
        event["request"] = request
    elif place == "frame":
        event["exception"] = _frame({"detail": buried, "text": text})
    elif place == "frame-event":
        lambda_event = {
            "rawPath": "/a",
            "requestContext": {},
            "headers": {"x": text},
            "body": json.dumps(buried),
        }
        event["exception"] = _frame({"event": lambda_event, "args": [lambda_event]})
    else:
        event["exception"] = {"values": [{"type": "ValueError", "value": text}]}
    return event


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
    else:
        yield str(value)


def _leaks(result: Any, secrets: list[str]) -> list[str]:
    texts = list(_strings(result))
    return [secret for secret in secrets if any(secret in text for text in texts)]


@pytest.fixture(autouse=True)
def no_registered_secrets() -> Iterator[None]:
    scrub.forget_registered_secrets()
    yield
    scrub.forget_registered_secrets()


@examples(600)
@given(st.data())
def test_a_planted_secret_never_survives_the_event_scrubber(data: st.DataObject) -> None:
    kind, plant, secrets = data.draw(planted())
    event = data.draw(events_with(plant))
    assert _leaks(scrub.scrub_event(event), secrets) == [], (kind, event)


@examples(300)
@given(st.data())
def test_a_planted_secret_never_survives_breadcrumbs_or_log_lines(data: st.DataObject) -> None:
    kind, plant, secrets = data.draw(planted())
    crumb = {"message": "step", "data": data.draw(nested(plant)), "level": "warning"}
    assert _leaks(scrub.scrub_breadcrumb(crumb), secrets) == [], (kind, crumb)
    line = plant if isinstance(plant, str) else json.dumps(plant)
    if kind not in ("by-key", "client-ip"):  # a bare value under a key is text only once it is JSON
        assert _leaks(scrub.scrub_text(f"2026-12-01 ERROR app: {line}"), secrets) == [], (kind, line)


JSON_LIKE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=30,
)


@examples(300)
@given(
    st.dictionaries(
        st.sampled_from(["message", "extra", "request", "exception", "threads", "tags", "x"]), JSON_LIKE
    )
)
def test_any_json_like_event_is_scrubbed_without_raising(event: dict[str, Any]) -> None:
    scrubbed = scrub.scrub_event(event)
    assert isinstance(scrubbed, dict)
    json.dumps(scrubbed, default=str)
