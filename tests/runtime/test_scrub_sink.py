"""End to end on the wire: a planted card number, client IP and OAuth code travel through ``@lambda_handler``
(event body, headers, query, frame variables, log breadcrumbs, exception message) and never reach Sentry."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from runtime import constants, lambda_handler, scrub
from tests.fixtures.sentry_sink import SentrySink

CARD = "4111 1111 1111 1111"
CARD_DIGITS = CARD.replace(" ", "")
CLIENT_IP = "203.0.113.77"
OAUTH_CODE = "SplxlOBeZQQYbYS6WxSbIA"
PIN = "48213579"
FILLER = "f" * 20_000

pytestmark = [pytest.mark.usefixtures("clean_sentry"), pytest.mark.timeout(120)]


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch, sentry_sink: SentrySink) -> Iterator[SentrySink]:
    from runtime.settings import reset_settings

    for name in (constants.AWS_LAMBDA_FUNCTION_NAME, constants.SENTRY_RELEASE):
        monkeypatch.delenv(name, raising=False)
    values = {
        constants.BALLAST_STAGE: "staging",
        constants.DATABASE_URL: "postgresql://app:db-pw-x1@db.example.com/app",
        constants.APP_SECRET: "q7Vt1Rk9Lm3Xz5Bw8Nc2Hd6Fj4Gs0PaE",
        constants.SENTRY_DSN: sentry_sink.dsn,
        constants.SENTRY_SAMPLE_RATE: "1.0",
        constants.SENTRY_TRACES_SAMPLE_RATE: "0",
        constants.LOG_LEVEL: "INFO",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    yield sentry_sink
    reset_settings()


def _event(method: str) -> dict[str, Any]:
    body = json.dumps({"payment": {"card": CARD, "pin": PIN}, "note": FILLER})
    return {
        "version": "2.0",
        "rawPath": "/api/pay",
        "rawQueryString": f"code={OAUTH_CODE}&state=s1",
        "queryStringParameters": {"code": OAUTH_CODE, "state": "s1"},
        "headers": {
            "host": "abc.lambda-url.eu-central-1.on.aws",
            "cf-connecting-ip": CLIENT_IP,
            "true-client-ip": CLIENT_IP,
            "x-forwarded-for": f"{CLIENT_IP}, 10.0.0.1",
            "forwarded": f"for={CLIENT_IP};proto=https",
            "content-type": "application/json",
        },
        "requestContext": {"http": {"method": method, "path": "/api/pay", "sourceIp": CLIENT_IP}},
        "body": body,
        "isBase64Encoded": False,
    }


def charging_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    body = event["body"]  # a frame variable holding the raw body
    payment = json.loads(body)["payment"]
    logging.getLogger("tests.pay").warning("x-forwarded-for: %s paying with %s", CLIENT_IP, payment["card"])
    raise RuntimeError(f"card {payment['card']} declined for pin={payment['pin']}")


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_planted_card_number_and_client_ip_never_arrive(configured: SentrySink, method: str) -> None:
    handle: Callable[[dict[str, Any], Any], Any] = lambda_handler(charging_handler)
    response = handle(_event(method), None)
    assert response["statusCode"] == 500

    [event] = configured.wait_for_events(1)
    received = configured.received_bytes()
    for planted in (CARD, CARD_DIGITS, CLIENT_IP, OAUTH_CODE, PIN):
        assert planted.encode() not in received, planted
    assert FILLER.encode() not in received  # no copy of the 20 KB body, in frames or elsewhere
    assert (
        event["exception"]["values"][-1]["value"]
        == f"card {scrub.FILTERED} declined for pin={scrub.FILTERED}"
    )
    frames = event["exception"]["values"][-1]["stacktrace"]["frames"]
    handler_vars = next(f["vars"] for f in frames if f.get("function") == "charging_handler")
    assert handler_vars["event"] == scrub.INVOCATION_EVENT_MARKER
    assert len(json.dumps(handler_vars["body"]).encode()) <= scrub.MAX_BODY_BYTES + 64


def test_control_without_the_scrubber_the_card_and_ip_arrive(configured: SentrySink) -> None:
    """The test above can fail: with the SDK's default ``before_send`` the planted values do arrive."""
    from runtime import observability
    from runtime.settings import get_settings

    observability.init_sentry(get_settings(), options={"before_send": None})
    handle: Callable[[dict[str, Any], Any], Any] = lambda_handler(charging_handler)
    handle(_event("POST"), None)
    configured.wait_for_events(1)
    received = configured.received_bytes()
    assert CARD.encode() in received
    assert CLIENT_IP.encode() in received
