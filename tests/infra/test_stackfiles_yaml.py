"""Stack files read defensively: every hostile YAML input is a ``StackFileError`` naming file and line (the
plan exits 2), in bounded time and memory; plain values reach the program as written, as the Pulumi CLI hands
them over; and a fuzz test holds "clear error or success, never anything else" over generated documents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.plan.stackfiles import MAX_STACK_FILE_BYTES, MAX_YAML_VALUES, StackFileError, load_stack_files
from tests.fixtures.plan_cli import run_plan
from tests.hypothesis_profiles import examples

ROOT = Path(__file__).parents[2]
PROJECT = "name: ballast\nruntime: python\n"

pytestmark = pytest.mark.timeout(120)


def _load(tmp_path: Path, stack_yaml: str, project_yaml: str = PROJECT) -> dict[str, str]:
    (tmp_path / "Pulumi.yaml").write_text(project_yaml, encoding="utf-8")
    (tmp_path / "Pulumi.production.yaml").write_text(stack_yaml, encoding="utf-8")
    return dict(load_stack_files(tmp_path, "production").config)


def _problem(tmp_path: Path, stack_yaml: str) -> str:
    with pytest.raises(StackFileError) as raised:
        _load(tmp_path, stack_yaml)
    [problem] = raised.value.problems
    assert problem.startswith("Pulumi.production.yaml: ")
    return problem


def _alias_bomb(levels: int) -> str:
    lines = ['  ballast:l0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels + 1):
        refs = ",".join([f"*a{level - 1}"] * 9)
        lines.append(f"  ballast:l{level}: &a{level} [{refs}]")
    return "config:\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-01", "2026-01-01"),  # a date stays the text written (the CLI reads plain values as text)
        ("2026-01-01T10:00:00Z", "2026-01-01T10:00:00Z"),
        ("yes", "yes"),
        ("0x10", "0x10"),
        ("1:30", "1:30"),
        ("0.50", "0.50"),
        ("'007'", "007"),
        ("true", "true"),
        ("~", ""),
    ],
)
def test_plain_values_reach_the_program_as_written(tmp_path: Path, value: str, expected: str) -> None:
    assert (
        _load(tmp_path, f"config:\n  ballast:neonBranchName: {value}\n")["ballast:neonBranchName"] == expected
    )


def test_maps_become_json_with_core_schema_scalars(tmp_path: Path) -> None:
    config = _load(
        tmp_path, "config:\n  ballast:environment: {A: 2026-01-01, B: yes, C: 0x10, D: true, E: 1.5}\n"
    )
    assert json.loads(config["ballast:environment"]) == {
        "A": "2026-01-01",
        "B": "yes",
        "C": 16,
        "D": True,
        "E": 1.5,
    }


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (
            "config:\n  ballast:neonBranchName: !!binary aGVsbG8=\n",
            "line 2: the tag !!binary is not supported",
        ),
        ("config:\n  ballast:environment: !!set {a, b}\n", "line 2: the tag !!set is not supported"),
        ("config:\n  ballast:environment: {1: a, B: c}\n", "line 2: map keys must be strings"),
        (
            "config:\n  ballast:logLevel: DEBUG\n  ballast:logLevel: INFO\n",
            "line 3: duplicate key `ballast:logLevel`",
        ),
        ("config:\n  ballast:environment: {A: 1, A: 2}\n", "line 2: duplicate key `A`"),
        (
            "config:\n  x: &m {a: 1}\n  ballast:environment: {<<: *m}\n",
            "line 3: merge keys (<<) are not supported",
        ),
        ("config:\n  ballast:environment: &r [*r]\n", "nested deeper than 64 levels (through aliases)"),
        (
            "config:\n  ballast:environment: " + "[" * 20_000 + "]" * 20_000 + "\n",
            "nested deeper than 64 levels",
        ),
        ("config:\n  ballast:x: !!python/object:os.system ls\n", "the tag !!python/object:os.system"),
        ("config:\n  ballast:x: !!timestamp 2026-01-01\n", "the tag !!timestamp is not supported"),
        ("config:\n  ballast:x: !!int abc\n", "is not a valid !!int"),
        (_alias_bomb(9), f"aliases expand to more than {MAX_YAML_VALUES} values"),
    ],
)
def test_hostile_yaml_is_a_clear_error_naming_the_line(tmp_path: Path, document: str, reason: str) -> None:
    assert reason in _problem(tmp_path, document)


@pytest.mark.parametrize(
    "document", ["config: [\n", "\tconfig: {}\n", "config:\n  a: b\n---\nx: 1\n", "*x\n"]
)
def test_invalid_yaml_is_named_with_its_line(tmp_path: Path, document: str) -> None:
    assert "is not valid YAML" in _problem(tmp_path, document)


def test_an_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    document = "config:\n  ballast:x: '" + "a" * MAX_STACK_FILE_BYTES + "'\n"
    assert "is larger than 1024 KiB" in _problem(tmp_path, document)


def test_a_small_alias_bomb_within_the_bound_still_loads(tmp_path: Path) -> None:
    config = _load(tmp_path, _alias_bomb(3))
    assert len(json.loads(config["ballast:l3"])) == 9


@pytest.mark.parametrize(
    "document",
    [
        "config:\n  ballast:neonBranchName: 2026-01-01\n  ballast:environment:\n    RELEASE: 2026-01-01\n",
        _alias_bomb(7),
        "config:\n  ballast:environment: " + "[" * 20_000 + "]" * 20_000 + "\n",
        "config:\n  ballast:neonBranchName: {a: 1}\n",
        "config:\n  ballast:logLevel: DEBUG\n  ballast:logLevel: INFO\n",
    ],
)
def test_the_plan_exits_2_without_a_traceback_on_hostile_stack_files(tmp_path: Path, document: str) -> None:
    stack_file = tmp_path / "Pulumi.production.yaml"
    base = (ROOT / "Pulumi.production.yaml").read_text(encoding="utf-8").split("\nconfig:\n", 1)[0]
    stack_file.write_text(f"{base}\n{document}", encoding="utf-8")
    result = run_plan("--stack", "production", "--config-file", str(stack_file), timeout=90)
    if "2026-01-01" in document:  # a date is a string: the plan goes on (and the branch name is valid)
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode == 2, result.stdout + result.stderr
        assert "cannot plan" in result.stderr
    assert "Traceback" not in result.stderr


# --- fuzz ----------------------------------------------------------------------------------------------

FRAGMENTS = [
    "config:", "  ballast:logLevel: INFO", "  ballast:environment:", "    A: 1", "    A: 2", "  - x", "[",
    "]", "{", "}", "&a", "*a", "*b", "!!binary", "!!set", "!!map", "!!python/tuple", "<<:", "? ", ": ", "- ",
    "---", "...", "'", '"', "|", ">", "#", "\t", "%YAML 1.1", "%TAG ! tag:x,2000:", "2026-01-01", "0x1F",
    ".inf", "~", "\u00e9", "\x00", "\ufeff", "  secure: v1:x", "  ballast:neonApiKey: {secure: a}", "\\",
    ",", "@", "`",
]  # fmt: skip


def _outcome(tmp_path: Path, text: str) -> dict[str, str] | list[str]:
    """The config loaded, or the problems of the clear error; anything else raised fails the test."""
    try:
        return _load(tmp_path, text)
    except StackFileError as error:
        return error.problems


@examples(300)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=30), st.lists(st.sampled_from([" ", "\n", "", "  "])))
def test_any_document_is_loaded_or_refused_clearly(
    tmp_path_factory: pytest.TempPathFactory, pieces: list[str], glue: list[str]
) -> None:
    text = "".join(piece + (glue[i % len(glue)] if glue else "\n") for i, piece in enumerate(pieces))
    outcome = _outcome(tmp_path_factory.mktemp("fuzz"), text)
    if isinstance(outcome, list):
        assert outcome
        assert all(problem.startswith(("Pulumi.production.yaml: ", "Pulumi.yaml: ")) for problem in outcome)
    else:
        assert all(isinstance(value, str) for value in outcome.values())


@examples(200)
@given(st.text(max_size=400))
def test_any_text_is_loaded_or_refused_clearly(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    outcome = _outcome(tmp_path_factory.mktemp("text"), text)
    assert isinstance(outcome, dict | list)
