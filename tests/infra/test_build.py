"""``infra.build``: the Lambda layer zip — contents, manylinux wheels for the target, byte stability, cache,
and an import from the archive's own tree in a fresh interpreter.

Why two builds for the import check: the target is Lambda's Python 3.12 (arm64 by default), but this host
runs Python 3.11 on x86_64, and compiled wheels (pydantic_core, psycopg_binary) only load on the exact
interpreter and CPU they were built for. So the target archive is checked for what it holds (runtime +
cp312 manylinux wheels for aarch64, byte-identical across two fresh builds), and the *same build code* is
run for the host's Python and architecture, whose archive must import cleanly in an isolated interpreter
(``-I -S``: no site-packages, only the extracted tree). Where a ``python3.12`` of the target architecture
exists, the target archive itself is imported too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from infra.build import (
    CONSTRAINTS,
    LAYER_PREFIX,
    RUNTIME_DIR,
    ZIP_DATE_TIME,
    BuildSpec,
    LambdaArtifact,
    build_layer,
    host_spec,
    planned_layer,
    sha256_base64,
    write_deterministic_zip,
)

IMPORT_TIMEOUT_SECONDS = 120
TARGET = BuildSpec(architecture="arm64", python_version="3.12")
IMPORT_CHECK = """
import json, sys
root = sys.argv[1]
sys.path.insert(0, root)
import runtime, runtime.handler, runtime.settings, pydantic, pydantic_core, pydantic_settings, sentry_sdk
import psycopg, psycopg_pool
from psycopg import pq
modules = [runtime, runtime.handler, pydantic_core, psycopg, psycopg_pool, sentry_sdk]
print(json.dumps({"impl": pq.__impl__, "files": [m.__file__ for m in modules],
                  "handle": callable(runtime.handler.handle)}))
"""

pytestmark = pytest.mark.slow


def fake_runtime(tmp_path: Path) -> Path:
    root = tmp_path / "runtime"
    shutil.copytree(RUNTIME_DIR, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


# Fingerprint and zip (no pip) ----------------------------------------------------------------------------


def test_the_fingerprint_covers_code_dependencies_and_target(tmp_path: Path) -> None:
    runtime = fake_runtime(tmp_path)
    spec = dataclasses.replace(TARGET, runtime_dir=runtime, requirements=runtime / "requirements.txt")
    first = spec.fingerprint()

    assert spec.fingerprint() == first
    (runtime / "__pycache__").mkdir(exist_ok=True)
    (runtime / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"noise")
    (runtime / "notes.txt").write_text("not shipped")
    assert spec.fingerprint() == first  # byte code and non-Python files are not inputs

    assert dataclasses.replace(spec, architecture="x86_64").fingerprint() != first
    assert dataclasses.replace(spec, python_version="3.13").fingerprint() != first
    (runtime / "handler.py").write_text((runtime / "handler.py").read_text() + "\n# changed\n")
    assert spec.fingerprint() != first
    changed = spec.fingerprint()
    (runtime / "requirements.txt").write_text("pydantic==2.14.3\n")
    assert spec.fingerprint() != changed


def test_planned_layer_names_the_cached_artifact_without_building(tmp_path: Path) -> None:
    planned = planned_layer(TARGET, cache_dir=tmp_path)

    assert not planned.built
    assert not planned.path.exists()
    assert planned.path.name == f"layer-arm64-py3.12-{TARGET.fingerprint()[:16]}.zip"
    assert planned.release == f"ballast@{TARGET.fingerprint()[:12]}"


def make_tree(root: Path, mode: int, mtime: float) -> None:
    for relative in (
        "python/b.py",
        "python/a/__init__.py",
        "python/a/z.so",
        "python/pkg-1.0.dist-info/RECORD",
    ):
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(relative.encode() * 10)
        path.chmod(mode)
        os.utime(path, (mtime, mtime))
    (root / "python/a/__pycache__").mkdir()
    (root / "python/a/__pycache__/x.pyc").write_bytes(b"x")
    (root / "python/bin").mkdir()
    (root / "python/bin/script").write_text("#!/build/machine/python\n")


def test_the_zip_is_byte_identical_whatever_the_files_times_and_modes(tmp_path: Path) -> None:
    make_tree(tmp_path / "one", 0o600, 1_700_000_000)
    make_tree(tmp_path / "two", 0o755, 1_800_000_000)
    write_deterministic_zip(tmp_path / "one", tmp_path / "one.zip")
    write_deterministic_zip(tmp_path / "two", tmp_path / "two.zip")

    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "one.zip") as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert names == [
        "python/a/__init__.py",
        "python/a/z.so",
        "python/b.py",
        "python/pkg-1.0.dist-info/RECORD",
    ]
    assert {i.date_time for i in infos} == {ZIP_DATE_TIME}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}
    assert {i.extra for i in infos} == {b""}


# Real builds (pip, through the configured package index) -------------------------------------------------


@pytest.fixture(scope="module")
def target_layer(tmp_path_factory: pytest.TempPathFactory) -> LambdaArtifact:
    return build_layer(TARGET, cache_dir=tmp_path_factory.mktemp("target-build"))


def test_the_target_layer_holds_the_runtime_and_manylinux_wheels_for_arm64_cp312(
    target_layer: LambdaArtifact,
) -> None:
    with zipfile.ZipFile(target_layer.path) as archive:
        names = archive.namelist()
        wheels = {
            name.split("/")[1]: archive.read(name).decode()
            for name in names
            if name.endswith(".dist-info/WHEEL")
        }
    runtime_sources = sorted(p.relative_to(RUNTIME_DIR).as_posix() for p in RUNTIME_DIR.rglob("*.py"))

    assert all(name.startswith(f"{LAYER_PREFIX}/") for name in names)
    assert sorted(n.removeprefix("python/runtime/") for n in names if n.startswith("python/runtime/")) == (
        runtime_sources
    )
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or n.startswith("python/bin/")]
    compiled = [n for n in names if ".cpython-" in n and n.endswith(".so")]
    assert compiled
    assert all("cpython-312-aarch64-linux-gnu" in n for n in compiled)
    assert any(n.startswith("python/pydantic_core/") for n in compiled)
    assert any(n.startswith("python/psycopg_binary/") for n in compiled)
    for package in ("pydantic_core", "psycopg_binary"):
        [tags] = [text for dist, text in wheels.items() if dist.lower().startswith(package)]
        assert all(tag in tags for tag in ("cp312", "manylinux", "aarch64")), package
    lines = CONSTRAINTS.read_text().splitlines()
    pinned = {line.lower().replace("_", "-") for line in lines if line and not line.startswith("#")}
    shipped = {
        "==".join(dist.removesuffix(".dist-info").rsplit("-", 1)).lower().replace("_", "-") for dist in wheels
    }
    assert shipped == pinned  # every shipped distribution is pinned, at the pinned version
    assert target_layer.sha256_base64 == sha256_base64(target_layer.path)


def test_two_fresh_builds_are_byte_identical_and_a_cached_one_runs_no_pip(
    target_layer: LambdaArtifact, tmp_path: Path
) -> None:
    again = build_layer(TARGET, cache_dir=tmp_path / "fresh")
    cached = build_layer(TARGET, cache_dir=tmp_path / "fresh", pip=("false",))  # pip would fail

    assert again.path != target_layer.path
    digest = hashlib.sha256(target_layer.path.read_bytes()).hexdigest()
    assert hashlib.sha256(again.path.read_bytes()).hexdigest() == digest
    assert again.sha256_base64 == target_layer.sha256_base64 == cached.sha256_base64
    assert again.fingerprint == target_layer.fingerprint


def test_a_failed_pip_is_a_build_error_naming_the_target(tmp_path: Path) -> None:
    from infra.build import BuildError

    with pytest.raises(BuildError, match=r"for arm64 / Python 3\.12"):
        build_layer(TARGET, cache_dir=tmp_path, pip=(sys.executable, "-c", "import sys; sys.exit(3)"))
    assert not list(tmp_path.glob("*.zip"))


def import_from_archive(python: str, artifact: LambdaArtifact, into: Path) -> dict[str, object]:
    import json

    with zipfile.ZipFile(artifact.path) as archive:
        archive.extractall(into)
    tree = into / LAYER_PREFIX
    completed = subprocess.run(
        [python, "-I", "-S", "-c", IMPORT_CHECK, str(tree)],
        capture_output=True,
        text=True,
        timeout=IMPORT_TIMEOUT_SECONDS,
        check=False,
        env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result: dict[str, object] = json.loads(completed.stdout)
    files = result["files"]
    assert isinstance(files, list)
    assert files
    assert all(str(f).startswith(str(tree)) for f in files), "a module came from outside the archive"
    return result


def test_the_same_build_for_this_host_imports_from_its_own_tree(tmp_path: Path) -> None:
    artifact = build_layer(host_spec(), cache_dir=tmp_path / "build")

    result = import_from_archive(sys.executable, artifact, tmp_path / "tree")

    assert result["impl"] == "binary"  # psycopg's compiled libpq wrapper from the archive, not pure Python
    assert result["handle"] is True


@pytest.mark.skipif(
    shutil.which("python3.12") is None or platform.machine().lower() not in ("aarch64", "arm64"),
    reason="no python3.12 on an arm64 machine here: the target archive is checked by content and by the "
    "host-variant import instead",
)
def test_the_target_layer_imports_on_a_matching_interpreter(
    target_layer: LambdaArtifact, tmp_path: Path
) -> None:
    python = shutil.which("python3.12")
    assert python is not None
    assert import_from_archive(python, target_layer, tmp_path)["impl"] == "binary"
