"""The published API specs are part of the project: present, as recorded in their README, usable as
contracts, and a missing one fails the fake that needs it instead of skipping its tests."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from tests.fixtures import openapi
from tests.fixtures.fake_neon import TEST_API_KEY, FakeNeon
from tests.fixtures.fake_sentry import FakeSentry
from tests.fixtures.openapi import SPECS, SPECS_DIR, Contract, SpecError, load_spec, to_json_schema

README = SPECS_DIR / "README.md"


def recorded_digests() -> dict[str, str]:
    rows = re.findall(r"^\| `([^`]+\.json)` \|.*\| `([0-9a-f]{64})` \|$", README.read_text(), re.MULTILINE)
    return dict(rows)


def test_every_spec_is_in_the_project_with_the_digest_its_readme_records() -> None:
    assert SPECS_DIR.is_relative_to(openapi.REPO)
    digests = recorded_digests()
    assert sorted(digests) == sorted(SPECS)
    on_disk = sorted(path.name for path in SPECS_DIR.glob("*.json"))
    assert on_disk == sorted(SPECS)
    for name in SPECS:
        assert hashlib.sha256((SPECS_DIR / name).read_bytes()).hexdigest() == digests[name], name


@pytest.mark.parametrize("name", SPECS)
def test_every_operation_of_every_spec_resolves_to_checkable_schemas(name: str) -> None:
    contract = Contract(load_spec(name))
    operations = 0
    for template, item in contract.spec["paths"].items():
        concrete = re.sub(r"\{[^/]+?\}", "x1", template)
        for method in contract.allowed_methods(concrete):
            op = contract.operation(method, concrete)
            assert op is not None, (method, template)
            assert op.template == template, (method, template)
            operations += 1
            body = op.spec.get("requestBody", {}).get("content", {}).get("application/json", {})
            if "schema" in body:
                json.dumps(to_json_schema(body["schema"], strict=True))
            for response in op.spec.get("responses", {}).values():
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                if schema is not None:
                    json.dumps(to_json_schema(schema, strict=False))
        assert item, template
    assert operations >= len(contract.spec["paths"])


def test_the_alerting_spec_has_the_alerting_resources() -> None:
    contract = Contract(load_spec(openapi.SENTRY_ALERTING_SPEC))
    org = "/api/0/organizations/ballast-org"
    for method, path in (
        ("POST", f"{org}/workflows/"),
        ("GET", f"{org}/workflows/12/"),
        ("POST", f"{org}/projects/ballast-staging/detectors/"),
        ("PUT", f"{org}/detectors/34/"),
        ("POST", f"{org}/monitors/"),
        ("DELETE", f"{org}/monitors/nightly/"),
    ):
        assert contract.operation(method, path) is not None, (method, path)


def test_a_missing_spec_is_an_error_naming_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openapi, "SPECS_DIR", tmp_path)
    with pytest.raises(SpecError, match=r"neon-api-v2\.openapi\.json is missing"):
        load_spec(openapi.NEON_SPEC)
    with pytest.raises(SpecError, match=r"sentry-api-provisioning\.openapi\.json is missing"):
        FakeSentry(auth_token="t")
    with pytest.raises(SpecError, match=r"neon-api-v2\.openapi\.json is missing"):
        FakeNeon(api_key=TEST_API_KEY)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "cannot be read"),
        ('{"swagger": "2.0", "paths": {"/a": {}}}', "is not an OpenAPI 3.0 document"),
        ('{"openapi": "3.0.3", "paths": {}}', "has no paths"),
    ],
)
def test_a_malformed_spec_is_an_error_saying_what_is_wrong(
    text: str, problem: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / openapi.NEON_SPEC).write_text(text, encoding="utf-8")
    monkeypatch.setattr(openapi, "SPECS_DIR", tmp_path)
    with pytest.raises(SpecError, match=problem):
        load_spec(openapi.NEON_SPEC)
