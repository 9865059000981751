"""Failed requests answer a generic body with an error ID, never anything technical."""

from __future__ import annotations

import json
import re

import pytest

from runtime import errors


def test_error_ids_are_short_prefixed_and_unique() -> None:
    ids = {errors.new_error_id() for _ in range(2000)}
    assert len(ids) == 2000
    for error_id in ids:
        assert re.fullmatch(errors.ERROR_ID_PATTERN, error_id), error_id
        assert len(error_id) == len("ERR-") + errors.ERROR_ID_LENGTH


def test_500_response() -> None:
    response = errors.error_response(500, error_id="ERR-ABCDEFGH12", request_id="req-1")
    assert response["statusCode"] == 500
    assert response["headers"] == {
        "Content-Type": "application/json",
        "Cache-Control": "no-store",
        "X-Request-ID": "req-1",
    }
    assert json.loads(response["body"]) == {"error": "Something went wrong", "errorId": "ERR-ABCDEFGH12"}
    assert response["isBase64Encoded"] is False


def test_503_response_for_an_unavailable_database() -> None:
    response = errors.error_response(503, error_id="ERR-ABCDEFGH12", request_id="req-2")
    assert response["statusCode"] == 503
    assert json.loads(response["body"]) == {
        "error": "Service temporarily unavailable",
        "errorId": "ERR-ABCDEFGH12",
    }


def test_other_5xx_statuses_get_the_generic_message() -> None:
    response = errors.error_response(502, error_id="ERR-ABCDEFGH12", request_id="r")
    assert json.loads(response["body"])["error"] == "Something went wrong"


@pytest.mark.parametrize("status", [200, 404, 499, 600])
def test_only_server_errors_are_answered_here(status: int) -> None:
    with pytest.raises(ValueError, match="5xx"):
        errors.error_response(status, error_id="ERR-ABCDEFGH12", request_id="r")
