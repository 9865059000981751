"""The GitHub workflow files validate against the published GitHub workflow schema — the copy vendored in the
``check-jsonschema`` package (pinned in requirements-dev.txt), so the check needs no network: the test runs
it with every socket connection refused and fails if anything tries one."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from check_jsonschema import main as check_jsonschema

WORKFLOWS = sorted((Path(__file__).resolve().parents[1] / ".github" / "workflows").glob("*.yml"))
SCHEMAS = ("vendor.github-workflows", "custom.github-workflows-require-timeout")


class NetworkUsed(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every name lookup and connection attempt is recorded and refused."""
    attempts: list[Any] = []

    def refuse(*args: Any, **_kwargs: Any) -> None:
        attempts.append(args[1] if len(args) > 1 and isinstance(args[0], socket.socket) else args[0])
        raise NetworkUsed("the schema check tried the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def run_check(schema: str, files: list[Path]) -> int:
    try:
        check_jsonschema(["--builtin-schema", schema, *map(str, files)])
    except SystemExit as done:
        return int(done.code or 0)
    return 0


def test_there_are_workflows_to_check() -> None:
    names = {path.name for path in WORKFLOWS}
    assert {"ci.yml", "preview-stack.yml", "preview-sweep.yml"} <= names


@pytest.mark.parametrize("schema", SCHEMAS)
def test_every_workflow_validates_offline(
    schema: str, no_network: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_check(schema, WORKFLOWS)
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert "validation done" in out.out
    assert no_network == []


def test_a_broken_workflow_is_refused(
    tmp_path: Path, no_network: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "name: broken\non:\n  pull_request:\njobs:\n  build:\n    runs-on: ubuntu-latest\n    stepz: []\n"
    )
    assert run_check(SCHEMAS[0], [broken]) == 1
    assert "broken.yml" in capsys.readouterr().out
    assert no_network == []


def test_the_guard_would_see_a_download(no_network: list[Any], capsys: pytest.CaptureFixture[str]) -> None:
    """The check pointed at the schema's published URL hits the guard (else the guard proves nothing)."""
    code = run_check_schemafile("https://json.schemastore.org/github-workflow", WORKFLOWS[:1])
    capsys.readouterr()
    assert code != 0
    assert no_network != []


def run_check_schemafile(url: str, files: list[Path]) -> int:
    try:
        check_jsonschema(["--no-cache", "--schemafile", url, *map(str, files)])
    except SystemExit as done:
        return int(done.code or 0)
    except NetworkUsed:
        return 1
    return 0
