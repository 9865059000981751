"""The one scrubber: secrets and personal data by key and by shape, for Sentry events and log lines."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

import pytest
from sentry_sdk.scrubber import EventScrubber

from runtime import scrub
from runtime.scrub import FILTERED, scrub_text

if TYPE_CHECKING:
    from sentry_sdk._types import Event

DB_PASSWORD = "npg_Zq8vT3xLw9Kd"
DB_URL = f"postgresql://neondb_owner:{DB_PASSWORD}@ep-quiet-sun-123456.eu-central-1.aws.neon.tech/neondb"
EMAIL = "ada.lovelace@example.org"
BEARER = "eyJraWQiOiJrMSJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJlLWJ5dGVz"
COOKIE_SESSION = "s3ss10n-c00kie-value"
CONTEXT_TOKEN = "tok_8f14e45fceea167a5a36dedd4bea2543"
APP_SECRET = "q7Vt1Rk9Lm3Xz5Bw8Nc2Hd6Fj4Gs0PaE"


@pytest.fixture(autouse=True)
def no_registered_secrets() -> Iterator[None]:
    scrub.forget_registered_secrets()
    yield
    scrub.forget_registered_secrets()


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        (f"could not connect to {DB_URL}", DB_PASSWORD, "postgresql://neondb_owner:[Filtered]@ep-quiet-sun"),
        ("postgres://app:p%40ss%2Fw0rd@h1:5432,h2:5433/db", "p%40ss", "@h1:5432,h2:5433/db"),
        ("host=db.example.com user=app password=s3cr3t-Pw sslmode=require", "s3cr3t-Pw", "sslmode=require"),
        ("host=db password='it\\'s a secret' port=5432", "secret'", "port=5432"),
        (f"user {EMAIL} signed in", EMAIL, "signed in"),
        ("mailto:bob.smith+tag@mail.example.co.uk", "bob.smith", "mailto:"),
        (f"Authorization: Bearer {BEARER}", BEARER, "Authorization: "),
        ("got headers {'Authorization': 'Basic dXNlcjpwYXNz', 'Accept': 'json'}", "dXNlcjpwYXNz", "'Accept'"),
        (f"Cookie: sid={COOKIE_SESSION}; theme=dark", COOKIE_SESSION, "Cookie: "),
        ("Set-Cookie: session=abc123def; Path=/; HttpOnly", "abc123def", "Set-Cookie: "),
        (f"calling with bearer {BEARER[:20]}xyz", BEARER[:20], "calling with bearer"),
        (f"token is {BEARER}", BEARER, "token is"),
        ("stripe key sk_live_4eC39HqLyjWDarjtT1zdp7dc", "4eC39HqLyjWDarjtT1zdp7dc", "stripe key"),
        ("gh token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdef", "gh token"),
        ("aws AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE", "aws"),
        ("slack xoxb-1234567890-abcdefghij", "xoxb-1234567890", "slack"),
        ("auth sntrys_eyJpYXQiOjE3MDAwMDAwMDB9_abcdefghijkl", "sntrys_eyJ", "auth"),
        (
            "dsn https://0123456789abcdef0123456789abcdef@o1.ingest.sentry.io/42",
            "0123456789abcdef0123",
            "o1.",
        ),
        ("X-Sentry-Auth: Sentry sentry_key=abc123def, sentry_version=7", "abc123def", "X-Sentry-Auth"),
        ("retrying api_key='zzz-top' then client_secret=\"qq-top\"", "-top", "retrying"),
        ("POST form: user=ada&password=hunter2&remember=1", "hunter2", "&remember=1"),
        ('body {"password": "hunter2", "name": "ada"}', "hunter2", '"name": "ada"'),
    ],
)
def test_shapes_of_secrets_are_withheld_in_text(text: str, secret: str, kept: str) -> None:
    scrubbed = scrub_text(text)
    assert secret not in scrubbed
    assert FILTERED in scrubbed
    assert kept in scrubbed  # the rest of the line still helps debugging


@pytest.mark.parametrize(
    "text",
    [
        'password authentication failed for user "neondb_owner"',
        "connection to localhost-db.example.com:5432 refused",
        "http://host:8080/path?page=2",
        "postgresql://app@db.example.com/app",  # no password: the host stays readable
        "trace 0123456789abcdef0123456789abcdef span 0123456789abcdef",
        "took 1732270000123 ms at 128.0.0.1",
        "the basic plan costs 10 EUR",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert scrub_text(text) == text


def test_json_log_lines_stay_valid_json() -> None:
    inner = json.dumps({"password": "hunter2", "email": EMAIL, "Cookie": f"sid={COOKIE_SESSION}; x=1"})
    line = json.dumps(
        {"message": f"body {inner} from {DB_URL}", "level": "INFO", "note": "Bearer abcdef1234"}
    )
    scrubbed = scrub_text(line)
    parsed = json.loads(scrubbed)  # still JSON
    for secret in ("hunter2", EMAIL, COOKIE_SESSION, DB_PASSWORD, "abcdef1234"):
        assert secret not in scrubbed
    assert parsed["level"] == "INFO"
    assert json.loads(parsed["message"].split(" from ")[0].removeprefix("body "))["password"] == FILTERED


@pytest.mark.parametrize(
    "key",
    ["password", "DB_PASSWORD", "Authorization", "Proxy-Authorization", "X-Api-Key", "api_key", "Cookie",
     "Set-Cookie", "session_id", "SENTRY_DSN", "client_secret", "refresh_token", "credit_card_number",
     "cvv", "pwd", "email", "ip_address", "X-Forwarded-For", "csrftoken", "username"],
)  # fmt: skip
def test_sensitive_keys(key: str) -> None:
    assert scrub.is_sensitive_key(key)


@pytest.mark.parametrize(
    "key", ["id", "error_id", "request_id", "url", "method", "level", "function", "name"]
)
def test_ordinary_keys(key: str) -> None:
    assert not scrub.is_sensitive_key(key)


def test_values_are_scrubbed_recursively_by_key_and_shape() -> None:
    value = {
        "headers": {"Authorization": f"Bearer {BEARER}", "X-Request-ID": "req-1"},
        "nested": [{"db": DB_URL}, ("contact", EMAIL)],
        "flags": {"session_active": True, "password": None, "pin": 1234},
        b"raw".decode(): b"password=hunter2",
    }
    scrubbed = scrub.scrub_value(value)
    assert scrubbed["headers"] == {"Authorization": FILTERED, "X-Request-ID": "req-1"}
    assert scrubbed["nested"][0]["db"].startswith("postgresql://neondb_owner:[Filtered]@ep-quiet-sun")
    assert scrubbed["nested"][1] == ["contact", FILTERED]
    assert scrubbed["flags"] == {"session_active": True, "password": None, "pin": FILTERED}
    assert scrubbed["raw"] == f"password={FILTERED}"


def test_nesting_beyond_the_depth_limit_is_withheld() -> None:
    deep: dict[str, Any] = {"leaf": EMAIL}
    for _ in range(scrub.MAX_DEPTH + 5):
        deep = {"next": deep}
    assert EMAIL not in json.dumps(scrub.scrub_value(deep))


def test_registered_secrets_are_withheld_in_any_shape() -> None:
    scrub.register_secret(DB_URL)
    scrub.register_secret(APP_SECRET)
    scrub.register_secret("short")  # too short to withhold literally without blanking ordinary words
    text = f"pw={DB_PASSWORD[::-1][::-1]}; secret split {APP_SECRET}; joined {'x' + DB_PASSWORD + 'y'}; short"
    scrubbed = scrub_text(text)
    assert DB_PASSWORD not in scrubbed
    assert APP_SECRET not in scrubbed
    assert scrubbed.endswith("short")


def test_secret_parts_of_connection_strings() -> None:
    assert scrub.secret_parts("postgresql://u:p%40ss-word@h/db") == ["p%40ss-word", "p@ss-word"]
    assert scrub.secret_parts("https://0123456789abcdef0123456789abcdef@o1.ingest.sentry.io/1") == [
        "0123456789abcdef0123456789abcdef"
    ]
    assert scrub.secret_parts("host=h password='a b\\'c' user=u") == ["a b'c"]


class _SettingsLike:
    """Quacks like pydantic settings: ``model_fields`` on the class, secrets with ``get_secret_value``."""

    class _Secret:
        def __init__(self, value: str) -> None:
            self._value = value

        def get_secret_value(self) -> str:
            return self._value

    model_fields = {"database_url": None, "app_secret": None, "stage": None, "sentry_dsn": None}

    def __init__(self) -> None:
        self.database_url = self._Secret(DB_URL)
        self.app_secret = self._Secret(APP_SECRET)
        self.stage = "staging"
        self.sentry_dsn = None


def test_register_secrets_of_settings() -> None:
    assert scrub.register_secrets_of(_SettingsLike()) == 2
    assert scrub_text(f"{APP_SECRET} {DB_PASSWORD}") == f"{FILTERED} {FILTERED}"


# --- Sentry events -----------------------------------------------------------------------------------------


def _planted_event(method: str = "POST") -> dict[str, Any]:
    return {
        "event_id": "0123456789abcdef0123456789abcdef",
        "level": "error",
        "message": f"login failed for {EMAIL}",
        "logentry": {"message": "login failed for %s", "params": [EMAIL], "formatted": f"failed for {EMAIL}"},
        "exception": {
            "values": [
                {
                    "type": "OperationalError",
                    "value": f"could not connect to {DB_URL}",
                    "stacktrace": {
                        "frames": [
                            {
                                "function": "connect",
                                "vars": {"conninfo": DB_URL, "password": "'hunter2'", "user_email": EMAIL},
                                "context_line": f'    url = "{DB_URL}"',
                            }
                        ]
                    },
                }
            ]
        },
        "breadcrumbs": {
            "values": [{"category": "log", "message": "password=hunter2 for retry", "level": "info"}]
        },
        "contexts": {"account": {"token": CONTEXT_TOKEN, "owner": EMAIL}, "runtime": {"name": "CPython"}},
        "extra": {"sys.argv": ["app", f"--db={DB_URL}"]},
        "tags": {"error_id": "ERR-0123456789", "customer": EMAIL},
        "user": {"id": "user-1", "email": EMAIL, "ip_address": "203.0.113.9"},
        "request": {
            "method": method,
            "url": "https://fn.lambda-url.eu-central-1.on.aws/api/login?token=abc&page=1",
            "query_string": f"token=abc123xyz&email={EMAIL}&page=1",
            "headers": {
                "Authorization": f"Bearer {BEARER}",
                "Cookie": f"sid={COOKIE_SESSION}",
                "X-Request-ID": "req-1",
            },
            "cookies": f"sid={COOKIE_SESSION}",
            "data": json.dumps({"email": EMAIL, "password": "hunter2", "note": "x" * 3000}),
        },
        "sdk": {"name": "sentry.python", "packages": [{"name": "pypi:sentry-sdk", "version": "2.75.0"}]},
        "modules": {"tokenizers": "0.1", "sessions-lib": "1.0"},
    }


PLANTED = (DB_PASSWORD, EMAIL, BEARER, COOKIE_SESSION, CONTEXT_TOKEN, "hunter2", "abc123xyz", "203.0.113.9")


def test_the_sdk_default_scrubber_leaves_pii_in_contexts_messages_and_exceptions() -> None:
    """The reason this module exists: sentry-sdk's EventScrubber misses these (so our test would notice)."""
    event = _planted_event()
    EventScrubber().scrub_event(cast("Event", event))
    leaked = json.dumps(
        {key: event[key] for key in ("contexts", "message", "exception", "logentry")}, default=str
    )
    assert CONTEXT_TOKEN in leaked
    assert EMAIL in leaked
    assert DB_PASSWORD in leaked


def test_events_are_scrubbed_everywhere() -> None:
    scrubbed = scrub.scrub_event(_planted_event())
    text = json.dumps(scrubbed)
    for secret in PLANTED:
        assert secret not in text
    exception = scrubbed["exception"]["values"][0]
    assert exception["value"].startswith("could not connect to postgresql://neondb_owner:[Filtered]@ep-quiet")
    assert exception["type"] == "OperationalError"
    assert scrubbed["contexts"]["account"] == {"token": FILTERED, "owner": FILTERED}
    assert scrubbed["contexts"]["runtime"] == {"name": "CPython"}
    assert scrubbed["tags"]["error_id"] == "ERR-0123456789"
    assert scrubbed["user"] == {"id": "user-1", "email": FILTERED, "ip_address": FILTERED}
    assert scrubbed["request"]["headers"] == {
        "Authorization": FILTERED,
        "Cookie": FILTERED,
        "X-Request-ID": "req-1",
    }
    assert scrubbed["request"]["cookies"] == FILTERED
    assert scrubbed["request"]["query_string"] == f"token={FILTERED}&email={FILTERED}&page=1"
    assert scrubbed["sdk"] == _planted_event()["sdk"]  # SDK metadata untouched
    assert scrubbed["modules"] == {"tokenizers": "0.1", "sessions-lib": "1.0"}


def test_post_bodies_are_redacted_and_cut_to_one_kilobyte() -> None:
    data = scrub.scrub_event(_planted_event("POST"))["request"]["data"]
    assert len(data.encode("utf-8")) <= scrub.MAX_BODY_BYTES
    assert data.endswith(scrub.TRUNCATED_MARKER)
    assert data.startswith(f'{{"email": "{FILTERED}", "password": "{FILTERED}", "note": "xxx')


@pytest.mark.parametrize("method", ["GET", "get", "HEAD", None])
def test_bodies_of_get_requests_are_dropped(method: str | None) -> None:
    event = _planted_event()
    event["request"]["method"] = method
    assert "data" not in scrub.scrub_event(event)["request"]


def test_small_structured_bodies_keep_their_shape() -> None:
    request = {"method": "PUT", "data": {"name": "ada", "password": "hunter2", "tags": ["a", EMAIL]}}
    assert scrub.scrub_request(request)["data"] == {
        "name": "ada",
        "password": FILTERED,
        "tags": ["a", FILTERED],
    }


def test_large_structured_bodies_are_cut_as_json_text() -> None:
    body = {"items": [{"n": index, "owner": EMAIL} for index in range(200)]}
    cut = scrub.scrub_request({"method": "POST", "data": body})["data"]
    assert isinstance(cut, str)
    assert len(cut.encode()) <= scrub.MAX_BODY_BYTES
    assert EMAIL not in cut


def test_cut_never_splits_a_character() -> None:
    cut = scrub.cut_body("é" * 2000)
    assert isinstance(cut, str)
    assert len(cut.encode("utf-8")) <= scrub.MAX_BODY_BYTES


def test_breadcrumbs_are_scrubbed() -> None:
    crumb = {"message": f"retry with password=hunter2 for {EMAIL}", "data": {"authorization": "Bearer x"}}
    assert scrub.scrub_breadcrumb(crumb) == {
        "message": f"retry with password={FILTERED} for {FILTERED}",
        "data": {"authorization": FILTERED},
    }


# --- log lines ------------------------------------------------------------------------------------------


@pytest.fixture
def log_stream() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log = logging.getLogger("tests.scrub.isolated")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.addHandler(handler)
    yield log, stream
    log.removeHandler(handler)


def test_log_lines_are_scrubbed_including_tracebacks(log_stream: tuple[logging.Logger, io.StringIO]) -> None:
    log, stream = log_stream
    assert scrub.install_log_scrubbing(log) >= 1  # ours (pytest may add capture handlers of its own)
    assert isinstance(log.handlers[0].formatter, scrub.ScrubbingFormatter)
    assert scrub.install_log_scrubbing(log) == 0  # idempotent
    try:
        raise ConnectionError(f"could not connect to {DB_URL} as {EMAIL}")
    except ConnectionError:
        log.exception("login for %s failed with token=%s", EMAIL, CONTEXT_TOKEN)
    log.info("headers %s", {"Cookie": f"sid={COOKIE_SESSION}", "Authorization": f"Bearer {BEARER}"})
    output = stream.getvalue()
    for secret in (DB_PASSWORD, EMAIL, CONTEXT_TOKEN, COOKIE_SESSION, BEARER):
        assert secret not in output
    assert "ConnectionError: could not connect to postgresql://neondb_owner:[Filtered]@ep-quiet" in output
    assert output.startswith(f"ERROR login for {FILTERED} failed with token={FILTERED}")


def test_log_scrubbing_wraps_any_formatter(log_stream: tuple[logging.Logger, io.StringIO]) -> None:
    class JsonFormatter(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return json.dumps({"level": record.levelname, "message": record.getMessage()})

    log, stream = log_stream
    log.handlers[0].setFormatter(JsonFormatter())
    scrub.install_log_scrubbing(log)
    log.warning("user %s sent %s", EMAIL, json.dumps({"password": "hunter2"}))
    line = json.loads(stream.getvalue())
    assert line == {"level": "WARNING", "message": f'user {FILTERED} sent {{"password": "{FILTERED}"}}'}


def test_an_arn_is_a_name_not_a_secret_but_a_known_secret_inside_it_is_withheld() -> None:
    arn = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:ballast-production-AbCdEf"
    line = f'{{"target": "{arn}", "password": "hunter2-hunter2"}} and {arn}, token=abc123def'
    scrubbed = scrub_text(line)
    assert scrubbed.count(arn) == 2
    assert "hunter2" not in scrubbed
    assert "abc123def" not in scrubbed
    assert "pw-9x" not in scrub_text("arn:aws:s3:::bucket,password=pw-9x")
    scrub.register_secret("ballast-production-AbCdEf")  # the autouse fixture forgets it
    assert "AbCdEf" not in scrub_text(arn)


# --- classes found by the adversarial pass (issue 11) ---------------------------------------------------

CARDS = [
    "4111111111111111",
    "4111 1111 1111 1111",
    "5500-0000-0000-0004",
    "378282246310005",
    "6011000990139424",
]
CLIENT_IP = "203.0.113.77"
CLIENT_IP_HEADERS = [
    "cf-connecting-ip", "true-client-ip", "x-client-ip", "forwarded", "fastly-client-ip", "x-real-ip",
    "x-forwarded-for", "x-cluster-client-ip",
]  # fmt: skip


@pytest.mark.parametrize("card", CARDS)
def test_luhn_valid_card_numbers_are_withheld_plain_spaced_or_dashed(card: str) -> None:
    scrubbed = scrub_text(f"charged {card} for order 42")
    assert card not in scrubbed
    assert scrubbed == f"charged {FILTERED} for order 42"
    assert scrub.scrub_value(int(card.replace(" ", "").replace("-", ""))) == FILTERED


@pytest.mark.parametrize(
    "text",
    [
        "1732000000000 ms",
        "4111111111111112",
        "order 1234567890123",
        "2026-11-22 10:00:00,123",
        "id 9999999999999999",
    ],
)
def test_numbers_that_are_not_cards_stay(text: str) -> None:
    assert scrub_text(text) == text


@pytest.mark.parametrize("header", CLIENT_IP_HEADERS)
def test_client_ip_headers_are_withheld_as_keys_and_as_text(header: str) -> None:
    assert scrub.scrub_value({header: CLIENT_IP}) == {header: FILTERED}
    assert CLIENT_IP not in scrub_text(f"{header}: {CLIENT_IP}")
    assert CLIENT_IP not in scrub_text(f"{header.title()}={CLIENT_IP}, other=1")


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("pin=4821 ok", "4821"),
        ("ssn=078-05-1120", "078-05-1120"),
        ("iban=DE89370400440532013000", "DE89370400440532013000"),
        ("pass=hunter2x", "hunter2x"),
        ("username=adalove", "adalove"),
        ("auth=abcdef123456", "abcdef123456"),
        ("db_pass: hunter2x", "hunter2x"),
        ("GET /cb?code=SplxlOBeZQQYbYS6WxSbIA&state=xyzzy123", "SplxlOBeZQQYbYS6WxSbIA"),
        ("GET /cb?code=SplxlOBeZQQYbYS6WxSbIA&state=xyzzy123", "xyzzy123"),
        ("https://files.example.com/f?sig=abcdEFGH1234&key=KKKKKK1234", "abcdEFGH1234"),
        ("https://files.example.com/f?sig=abcdEFGH1234&key=KKKKKK1234", "KKKKKK1234"),
        ("password => hunter2x", "hunter2x"),
        ('{"password" => "hunter2x"}', "hunter2x"),
        ("<password>hunter2x</password>", "hunter2x"),
        ('<ns:api_key type="x">hunter2x</ns:api_key>', "hunter2x"),
        ("--password hunter2x", "hunter2x"),
        ("psql --password 'hunter 2x'", "hunter 2x"),
        ("password%3Dhunter2x%26user%3Dbob", "hunter2x"),
        ("to=ada%40example.org", "ada%40example.org"),
        ('mutation { login(username: "adalove", password: "hunter2x") }', "adalove"),
        ('mutation { login(username: "adalove", password: "hunter2x") }', "hunter2x"),
    ],
)
def test_more_shapes_of_secrets_are_withheld(text: str, secret: str) -> None:
    assert secret not in scrub_text(text)


@pytest.mark.parametrize("text", ["shipping=express", "author=ada", "passenger_count=3", "spinner=on"])
def test_short_names_count_only_as_whole_words(text: str) -> None:
    assert scrub_text(text) == text


def test_escaped_json_inside_strings_is_scrubbed_by_key() -> None:
    inner = json.dumps({"pin": "4821", "card": {"number": CARDS[0]}, "note": "ok"})
    doubly = json.dumps({"payload": inner})
    scrubbed = scrub.scrub_value({"body": doubly})
    assert "4821" not in json.dumps(scrubbed)
    assert CARDS[0] not in json.dumps(scrubbed)
    assert json.loads(json.loads(scrubbed["body"])["payload"])["note"] == "ok"


@pytest.mark.parametrize(
    "secret", ["se\"cr\\et'Value9", "back\\slash\\secret", "quote'n\"mix-99", "tab\tand\nnl-99"]
)
def test_a_registered_secret_with_quotes_or_backslashes_never_leaks_through_repr(secret: str) -> None:
    scrub.register_secret(secret)
    error = ValueError(secret)
    for text in (repr(error), str(error), repr([error]), repr({"k": (secret,)}), json.dumps({"e": secret})):
        assert secret not in scrub_text(text)
        assert repr(secret)[1:-1] not in scrub_text(text)


def test_the_sdk_default_denylists_are_a_subset_of_ours() -> None:
    from sentry_sdk.scrubber import DEFAULT_DENYLIST, DEFAULT_PII_DENYLIST

    assert [
        key for key in [*DEFAULT_DENYLIST, *DEFAULT_PII_DENYLIST] if not scrub.is_sensitive_key(key)
    ] == []


def _exception_event(variables: dict[str, Any]) -> dict[str, Any]:
    frame = {"function": "handle", "filename": "app.py", "lineno": 3, "vars": variables}
    return {"exception": {"values": [{"type": "E", "value": "x", "stacktrace": {"frames": [frame]}}]}}


def _frame_vars(event: dict[str, Any]) -> dict[str, Any]:
    frames = event["exception"]["values"][0]["stacktrace"]["frames"]
    return cast("dict[str, Any]", frames[0]["vars"])


def test_frame_variables_never_carry_the_invocation_event() -> None:
    lambda_event = {
        "version": "2.0",
        "rawPath": "/api/items",
        "headers": {"x-forwarded-for": CLIENT_IP},
        "requestContext": {"http": {"method": "GET", "sourceIp": CLIENT_IP}},
        "body": json.dumps({"card": CARDS[0], "note": "n" * 20_000}),
    }
    scrubbed = scrub.scrub_event(
        _exception_event({"event": lambda_event, "args": [lambda_event, "context"], "count": 3})
    )
    variables = _frame_vars(scrubbed)
    assert variables["event"] == scrub.INVOCATION_EVENT_MARKER
    assert scrub.INVOCATION_EVENT_MARKER in json.dumps(variables["args"])
    assert variables["count"] == 3
    text = json.dumps(scrubbed)
    assert CARDS[0] not in text
    assert CLIENT_IP not in text


def test_frame_variables_are_cut_like_request_data() -> None:
    variables = _frame_vars(
        scrub.scrub_event(_exception_event({"blob": "x" * 20_000, "rows": ["y" * 50] * 100}))
    )
    assert len(variables["blob"].encode()) <= scrub.MAX_BODY_BYTES
    assert variables["blob"].endswith(scrub.TRUNCATED_MARKER)
    assert len(variables["rows"].encode()) <= scrub.MAX_BODY_BYTES


def test_query_strings_lose_their_credentials() -> None:
    request = {
        "method": "GET",
        "url": "https://api.example.com/cb",
        "query_string": "code=abc123xyz&state=s7&page=2",
    }
    scrubbed = scrub.scrub_request(request)
    assert scrubbed["query_string"] == f"code={FILTERED}&state={FILTERED}&page=2"


def test_a_remembered_answer_is_forgotten_when_a_secret_is_registered() -> None:
    route = "/api/reset/Hq3Lm8Vt2Rk9Xz5B"
    assert scrub.scrub_recurring_text(route) == route  # remembered: no secret yet
    scrub.register_secret("Hq3Lm8Vt2Rk9Xz5B")
    try:
        assert scrub.scrub_recurring_text(route) == f"/api/reset/{scrub.FILTERED}"
    finally:
        scrub.forget_registered_secrets()
    assert scrub.scrub_recurring_text(route) == route
