"""The property walker on both shapes a policy meets: the analyzer's unknown-checking proxies (real engine)
and plain values with secret wrappers and ``Unknown`` objects (mock engine)."""

from __future__ import annotations

import json

from pulumi.output import Unknown
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from infra.policy.walk import UNKNOWN, has_key, iter_strings, lookup
from tests.policy.support import secret

PROPS = {
    "name": "api",
    "memorySize": 512.0,
    "environment": {"variables": {"DATABASE_URL": UNKNOWN_STRING_VALUE, "LOG_LEVEL": "INFO"}},
    "tags": [{"k": "v"}, UNKNOWN_STRING_VALUE, ["deep"]],
    "policy": json.dumps({"Statement": [{"Resource": ["arn:a", json.dumps({"inner": "x"})]}]}),
    "notJson": "{not json",
    "__provider": "pickled-provider-code",
}
EXPECTED = [
    ("name", "api"),
    ("environment.variables.LOG_LEVEL", "INFO"),
    ("tags[0].k", "v"),
    ("tags[2][0]", "deep"),
    ("policy(json).Statement[0].Resource[0]", "arn:a"),
    ("policy(json).Statement[0].Resource[1](json).inner", "x"),
    ("notJson", "{not json"),
]


def test_strings_come_with_paths_through_the_analyzer_proxy_skipping_unknowns() -> None:
    assert list(iter_strings(unknown_checking_proxy(PROPS))) == EXPECTED


def test_the_mock_shape_gives_the_same_strings() -> None:
    mock_shape = {
        **PROPS,
        "environment": secret({"variables": {"DATABASE_URL": Unknown(), "LOG_LEVEL": "INFO"}}),
    }
    assert list(iter_strings(mock_shape)) == EXPECTED


def test_lookup_and_has_key_never_raise_on_unknowns() -> None:
    proxied = unknown_checking_proxy(PROPS)
    variables = lookup(proxied, "environment", "variables")
    assert has_key(variables, "DATABASE_URL")
    assert lookup(variables, "DATABASE_URL") is UNKNOWN
    assert lookup(proxied, "tags", 1) is UNKNOWN
    assert lookup(proxied, "tags", 1, "k") is UNKNOWN
    assert lookup(proxied, "missing", "deeper") is None
    assert lookup(proxied, "memorySize") == 512.0
    assert not has_key(variables, "SENTRY_DSN")
