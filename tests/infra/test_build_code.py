"""``infra.build``: each function's own code package — its files at the zip's root, its own requirements for
the Lambda target, byte-identical for the same tree, and a change to one function rebuilding only that one."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

from infra.build import REPO_ROOT, CodeSpec, build_code, function_release, planned_code, planned_layer
from infra.build import BuildSpec as LayerSpec

NO_PIP = (sys.executable, "-c", "import sys; sys.exit('pip must not run')")


def make_function(root: Path, name: str) -> Path:
    directory = root / name
    (directory / "lib").mkdir(parents=True)
    (directory / f"{name}.py").write_text(
        "from lib import helper\n\ndef handle(event, context):\n    return {}\n"
    )
    (directory / "lib" / "helper.py").write_text("VALUE = 1\n")
    (directory / "lib" / "__pycache__").mkdir()
    (directory / "lib" / "__pycache__" / "helper.cpython-311.pyc").write_bytes(b"byte code")
    return directory


def test_the_fingerprint_covers_every_file_and_the_target(tmp_path: Path) -> None:
    spec = CodeSpec(make_function(tmp_path, "orders"), "arm64")
    first = spec.fingerprint()

    assert spec.fingerprint() == first
    (spec.code_dir / "lib" / "__pycache__" / "other.pyc").write_bytes(b"noise")
    assert spec.fingerprint() == first  # byte code is not an input
    assert dataclasses.replace(spec, architecture="x86_64").fingerprint() != first
    assert dataclasses.replace(spec, python_version="3.13").fingerprint() != first
    (spec.code_dir / "schema.sql").write_text("select 1;\n")
    assert spec.fingerprint() != first  # every file ships, so every file counts
    with_data = spec.fingerprint()
    (spec.code_dir / "requirements.txt").write_text("attrs==25.4.0\n")
    assert spec.fingerprint() != with_data


def test_the_code_zip_holds_the_files_at_its_root_and_is_byte_stable(tmp_path: Path) -> None:
    spec = CodeSpec(make_function(tmp_path, "orders"), "arm64")
    built = build_code(spec, cache_dir=tmp_path / "one", pip=NO_PIP)  # no requirements: pip never runs
    again = build_code(spec, cache_dir=tmp_path / "two", pip=NO_PIP)

    assert built.entries == ("lib/helper.py", "orders.py")
    assert built.path.read_bytes() == again.path.read_bytes()
    assert built.sha256_base64 == again.sha256_base64
    with zipfile.ZipFile(built.path) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert planned_code(spec, cache_dir=tmp_path / "one").path == built.path


def test_a_change_to_one_function_rebuilds_only_that_one(tmp_path: Path) -> None:
    specs = {name: CodeSpec(make_function(tmp_path, name), "arm64") for name in ("orders", "report")}
    cache = tmp_path / "build"
    first = {name: build_code(spec, cache_dir=cache, pip=NO_PIP) for name, spec in specs.items()}
    written = {name: artifact.path.stat().st_mtime_ns for name, artifact in first.items()}

    (specs["report"].code_dir / "report.py").write_text("def handle(event, context):\n    return {'v': 2}\n")
    second = {name: build_code(spec, cache_dir=cache, pip=NO_PIP) for name, spec in specs.items()}

    assert second["orders"] == first["orders"]  # same fingerprint, same zip: no new Lambda version
    assert second["orders"].path.stat().st_mtime_ns == written["orders"]  # not even rewritten
    assert second["report"].sha256_base64 != first["report"].sha256_base64
    assert sorted(p.name for p in cache.glob("*.zip")) == sorted(
        {first["orders"].path.name, first["report"].path.name, second["report"].path.name}
    )
    layer = planned_layer(LayerSpec(architecture="arm64"))
    assert function_release("orders", layer, second["orders"]) == function_release(
        "orders", layer, first["orders"]
    )
    assert function_release("report", layer, second["report"]) != function_release(
        "report", layer, first["report"]
    )


def test_a_failing_requirement_is_a_build_error_and_leaves_no_zip(tmp_path: Path) -> None:
    from infra.build import BuildError

    spec = CodeSpec(make_function(tmp_path, "orders"), "arm64")
    (spec.code_dir / "requirements.txt").write_text("attrs==25.4.0\n")
    with pytest.raises(BuildError, match=r"requirements\.txt for arm64 / Python 3\.12"):
        build_code(spec, cache_dir=tmp_path / "build", pip=(sys.executable, "-c", "import sys; sys.exit(3)"))
    assert not list((tmp_path / "build").glob("*.zip"))


@pytest.mark.slow
def test_the_example_items_function_ships_powertools_for_the_target(tmp_path: Path) -> None:
    """The real build (pip from the package index): Powertools in the items function's own zip, for
    arm64 / Python 3.12, with no console scripts; twice byte-identical."""
    code_dir = tmp_path / "items"
    shutil.copytree(REPO_ROOT / "app" / "items", code_dir, ignore=shutil.ignore_patterns("__pycache__"))
    spec = CodeSpec(code_dir, "arm64", "3.12")
    built = build_code(spec, cache_dir=tmp_path / "one")
    again = build_code(spec, cache_dir=tmp_path / "two")

    assert "items_api.py" in built.entries
    assert any(name.startswith("aws_lambda_powertools/event_handler/") for name in built.entries)
    assert not [name for name in built.entries if name.startswith("bin/") or name.endswith(".pyc")]
    assert not [name for name in built.entries if name.startswith(("runtime/", "pydantic/", "psycopg/"))]
    digest = hashlib.sha256(built.path.read_bytes()).hexdigest()
    assert hashlib.sha256(again.path.read_bytes()).hexdigest() == digest
