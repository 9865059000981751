"""The preview-lifecycle decisions (``python -m infra.previews plan``) on recorded ``pulumi stack ls --json``
and ``gh pr list/view --json`` output: a pull request opened, pushed to, merged; a stale sweep; bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra import previews

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "previews"


def plan(capsys: pytest.CaptureFixture[str], stacks: str, pulls: str, *extra: str) -> tuple[int, Any, str]:
    code = previews.main(
        ["plan", "--stacks", str(RECORDED / stacks), "--pulls", str(RECORDED / pulls), *extra]
    )
    captured = capsys.readouterr()
    output = json.loads(captured.out) if captured.out.strip().startswith("[") else captured.out
    return code, output, captured.err


def test_an_opened_pull_request_gets_its_stack_created(capsys: pytest.CaptureFixture[str]) -> None:
    code, decisions, _ = plan(capsys, "stacks-long-lived.json", "pull-12-open.json", "--only", "12")
    assert code == 0
    assert decisions == [
        {
            "action": "create",
            "stack": "pr-12",
            "number": 12,
            "head": "9f1c2e7d4b3a5968c0e1f2a3b4c5d6e7f8091a2b",
            "reason": "the pull request is open, no stack yet",
        }
    ]


def test_a_push_updates_the_existing_stack(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = plan(
        capsys, "stacks-with-pr-12.json", "pull-12-pushed.json", "--only", "12", "--format", "lines"
    )
    assert (code, out) == (0, "update pr-12 12 3e8a6d1c0b9f7e5d4c3b2a1908f7e6d5c4b3a291\n")


def test_a_merged_pull_request_has_its_stack_destroyed_and_removed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = plan(capsys, "stacks-with-pr-12.json", "pull-12-merged.json", "--format", "lines")
    assert (code, out) == (0, "destroy pr-12 12 3e8a6d1c0b9f7e5d4c3b2a1908f7e6d5c4b3a291\n")
    # Closing again (the stack is already gone) decides nothing.
    code, out, _ = plan(capsys, "stacks-long-lived.json", "pull-12-merged.json", "--format", "lines")
    assert (code, out) == (0, "")


def test_the_stale_sweep_destroys_closed_previews_only(capsys: pytest.CaptureFixture[str]) -> None:
    code, decisions, _ = plan(capsys, "stacks-sweep.json", "pulls-sweep.json")
    assert code == 0
    assert [(d["action"], d["stack"]) for d in decisions] == [
        ("skip", "pr-3"),  # its pull request is not in the list: never destroyed on a guess
        ("destroy", "pr-7"),  # closed
        ("update", "pr-9"),  # still open
        ("skip", "pr-11"),  # closed, but an update is running
        ("create", "pr-14"),  # open, no stack yet
    ]  # production, staging and pr-review are not preview stacks; #8 merged without a stack: nothing to do
    code, out, _ = plan(
        capsys, "stacks-sweep.json", "pulls-sweep.json", "--actions", "destroy", "--format", "lines"
    )
    assert (code, out) == (0, "destroy pr-7 7 ee05ee05ee05ee05ee05ee05ee05ee05ee05ee05\n")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("not json", "not JSON (line 1, column 1)"),
        ('{"stacks": []}', "expected a JSON list"),
        ('[{"current": true}]', "entry 0.name: Field required"),
        ('[{"name": ""}]', "entry 0.name"),
    ],
)
def test_malformed_stacks_are_a_clear_error_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, fragment: str
) -> None:
    stacks = tmp_path / "stacks.json"
    stacks.write_text(content)
    code = previews.main(["plan", "--stacks", str(stacks), "--pulls", str(RECORDED / "pulls-sweep.json")])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err.startswith(f"previews: {stacks}: ")
    assert fragment in captured.err
    assert "Traceback" not in captured.err


@pytest.mark.parametrize(
    ("pulls", "fragment"),
    [
        ([{"number": 12, "state": "DRAFT", "headRefOid": "x"}], "entry 0.state: Input should be 'OPEN'"),
        ([{"number": "12", "state": "OPEN"}], "entry 0.number"),
        ([{"number": 0, "state": "OPEN"}], "entry 0.number"),
        ("[1, 2]", "entry 0: Input should be a valid dictionary"),
    ],
)
def test_malformed_pull_requests_are_a_clear_error_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pulls: Any, fragment: str
) -> None:
    path = tmp_path / "pulls.json"
    path.write_text(pulls if isinstance(pulls, str) else json.dumps(pulls))
    code = previews.main(["plan", "--stacks", str(RECORDED / "stacks-sweep.json"), "--pulls", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert fragment in err


def test_the_command_line_exit_codes(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "infra.previews", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    ok = run(
        "plan", "--stacks", str(RECORDED / "stacks-sweep.json"), "--pulls", str(RECORDED / "pulls-sweep.json")
    )
    assert ok.returncode == 0, ok.stderr
    assert len(json.loads(ok.stdout)) == 5
    missing = run(
        "plan", "--stacks", str(tmp_path / "absent.json"), "--pulls", str(RECORDED / "pulls-sweep.json")
    )
    assert (missing.returncode, missing.stderr.strip()) == (
        2,
        f"previews: {tmp_path / 'absent.json'}: no such file",
    )
    assert run("plan", "--stacks", "x").returncode == 2  # usage: --pulls missing
    bad_action = run("plan", "--stacks", "x", "--pulls", "y", "--actions", "nuke")
    assert bad_action.returncode == 2
    assert "--actions: choose from" in bad_action.stderr
