"""The shared loopback corpus through ``no-localhost-in-production``: every spelling is caught wherever it
sits (environment variables plain or secret-wrapped, nested lists, JSON policy documents, JSON inside JSON,
deep dynamic-resource props) and reported by path without the value; no lookalike real host is."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from infra.policy import rules
from runtime.loopback import find_loopback
from tests.loopback_corpus import LOOKALIKE_HOSTS, LOOPBACK_SPELLINGS
from tests.policy.support import check, of, secret

POLICY = "no-localhost-in-production"


@dataclass(frozen=True)
class Placement:
    label: str
    resource_type: str
    props: Callable[[str], dict[str, Any]]
    path: str


PLACEMENTS = [
    Placement(
        "lambda env var",
        rules.FUNCTION_TYPE,
        lambda v: {
            "runtime": "python3.12",
            "environment": {"variables": {"BALLAST_STAGE": "production", "UPSTREAM": v}},
        },
        "environment.variables.UPSTREAM",
    ),
    Placement(
        "secret env (mock engine shape)",
        rules.FUNCTION_TYPE,
        lambda v: {"environment": secret({"variables": {"UPSTREAM": v}})},
        "environment.variables.UPSTREAM",
    ),
    Placement(
        "nested list",
        rules.FUNCTION_URL_TYPE,
        lambda v: {"cors": {"allowOrigins": ["https://app.example.com", v]}},
        "cors.allowOrigins[1]",
    ),
    Placement(
        "IAM policy document (JSON)",
        rules.IAM_POLICY_TYPES[0],
        lambda v: {
            "policy": json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "execute-api:Invoke",
                            "Resource": "arn:aws:execute-api:eu-central-1:123456789012:abc/*",
                            "Condition": {"StringLike": {"aws:Referer": [v]}},
                        }
                    ],
                }
            )
        },
        "policy(json).Statement[0].Condition.StringLike.aws:Referer[0]",
    ),
    Placement(
        "JSON inside a JSON secret payload",
        rules.SECRET_VERSION_TYPE,
        lambda v: {"secretString": json.dumps({"APP_SECRET": "x" * 40, "upstream": json.dumps({"url": v})})},
        "secretString(json).upstream(json).url",
    ),
    Placement(
        "deep dynamic-resource props",
        rules.NEON_ROLE_TYPE,
        lambda v: {"settings": [{"replicas": [[{"endpoint": v}]]}]},
        "settings[0].replicas[0][0].endpoint",
    ),
]


def expected_message(placement: Placement, spelling: str) -> str:
    # A spelling that is itself a JSON document is walked into: the path names the key inside it.
    inner = "(json).url" if spelling.startswith("{") else ""
    return (
        f"{placement.resource_type} 'subject': property {placement.path}{inner} points at the local machine. "
        "A production stack must only reach real hosts: set the production address in the stack config "
        "(e.g. `pulumi config set --stack production ...`) instead."
    )


def test_the_corpus_is_big_enough_and_judged_by_the_shared_detector() -> None:
    assert len(set(LOOPBACK_SPELLINGS)) >= 50
    assert len(set(LOOKALIKE_HOSTS)) >= 20
    assert [s for s in LOOPBACK_SPELLINGS if find_loopback(s) is None] == []
    assert [h for h in LOOKALIKE_HOSTS if find_loopback(h) is not None] == []


@pytest.mark.parametrize("placement", PLACEMENTS, ids=lambda p: p.label)
def test_every_loopback_spelling_is_caught_and_reported_by_path_only(placement: Placement) -> None:
    missed: list[str] = []
    for spelling in LOOPBACK_SPELLINGS:
        violations = of(check(placement.resource_type, placement.props(spelling), protect=True), POLICY)
        if len(violations) != 1:
            missed.append(spelling)
            continue
        [violation] = violations
        assert violation.mandatory
        assert violation.message == expected_message(placement, spelling)
        if len(spelling) >= 4:
            assert spelling not in violation.message
    assert missed == []


@pytest.mark.parametrize("placement", PLACEMENTS, ids=lambda p: p.label)
def test_no_lookalike_host_is_reported(placement: Placement) -> None:
    flagged = [
        host
        for host in LOOKALIKE_HOSTS
        if of(check(placement.resource_type, placement.props(host), protect=True), POLICY)
    ]
    assert flagged == []


def test_the_same_spellings_pass_outside_production() -> None:
    placement = PLACEMENTS[0]
    for spelling in LOOPBACK_SPELLINGS:
        assert of(check(placement.resource_type, placement.props(spelling), stack="staging"), POLICY) == []
