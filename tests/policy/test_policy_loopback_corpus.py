"""The shared loopback corpus through ``no-localhost-in-production``: every spelling is caught wherever it
sits (environment variables plain or secret-wrapped, nested lists, JSON policy documents, JSON inside JSON,
deep dynamic-resource props) and reported by path without the value; no lookalike real host is."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

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


# --- end to end: a production plan with the new classes planted in ballast:environment --------------------

REPO_ROOT = Path(__file__).resolve().parents[2]
PLANTED_PASSWORD = "planted-Pw-4Kq9z"
PLANTED_LOCAL = {
    "USERINFO_ESCAPE": f"postgresql://app:{PLANTED_PASSWORD}%2F@localhost:5432/app",
    "USERINFO_SEMICOLON": f"http://0123456789abcdef0123456789abcdef;{PLANTED_PASSWORD}@127.0.0.1:9000/42",
    "EMPTY_HOST": f"postgresql://u:{PLANTED_PASSWORD}@:5432/app",
    "EMPTY_LIST_HOST": f"postgresql://u:{PLANTED_PASSWORD}@,db.example.com/app",
    "URL_LIST": "https://a.example.com,https://[::1]",
    "FULLWIDTH": "http://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54:3000",
    "IDEOGRAPHIC_STOP": "http://127\u30020\u30020\u30021/",
    "SOFT_HYPHEN": "http://loca\u00adlhost/",
}
PLANTED_HARMLESS = {
    "MIDNIGHT": "00:00",
    "HALF_HOUR": "0:30",
    "ZERO_HEX": "0x0",
    "MAX_INT": "0x7fffffff",
    "MAX_INT_DECIMAL": "2147483647",
    "PHONE": "2135551234",
    "DECODED_PATH": "https://example.com/a%20localhost",
}


def _plan_with_environment(tmp_path: Path, environment: dict[str, str]) -> tuple[int, dict[str, Any], str]:
    base = (REPO_ROOT / "Pulumi.production.yaml").read_text(encoding="utf-8")
    document = yaml.safe_load(base)
    document["config"]["ballast:environment"] = environment
    stack_file = tmp_path / "Pulumi.production.yaml"
    stack_file.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "infra",
            "plan",
            "--stack",
            "production",
            "--json",
            "--config-file",
            str(stack_file),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert process.stdout.strip(), process.stderr
    return process.returncode, json.loads(process.stdout), process.stdout + process.stderr


@pytest.mark.timeout(240)
def test_a_production_plan_fails_on_each_planted_local_value_naming_only_resource_and_path(
    tmp_path: Path,
) -> None:
    code, data, output = _plan_with_environment(tmp_path, PLANTED_LOCAL)
    assert code == 1, output
    violations = [v for v in data["policies"]["violations"] if v["policy"] == POLICY]
    paths = {
        key for v in violations for key in PLANTED_LOCAL if f"environment.variables.{key} " in v["message"]
    }
    assert paths == set(PLANTED_LOCAL)
    assert all(
        v["resource_type"] == rules.FUNCTION_TYPE and v["resource_name"] in v["message"] for v in violations
    )
    for value in PLANTED_LOCAL.values():
        assert value not in output
    assert PLANTED_PASSWORD not in output


@pytest.mark.timeout(240)
def test_a_production_plan_passes_with_times_constants_and_paths_that_only_look_local(tmp_path: Path) -> None:
    code, data, output = _plan_with_environment(tmp_path, PLANTED_HARMLESS)
    assert code == 0, output
    assert [v for v in data["policies"]["violations"] if v["policy"] == POLICY] == []
