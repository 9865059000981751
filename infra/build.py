"""The reproducible Lambda artifacts: the layer (``runtime/`` and its dependencies) and each function's code.

``pip install --platform manylinux… --only-binary=:all: --python-version 3.12 --implementation cp --target``
fetches the manylinux wheels for the function's architecture (whatever machine builds it), constrained to
``infra/build-constraints.txt`` so every transitive dependency is pinned. ``runtime/``'s ``.py`` files are
copied beside them under the layer's ``python/`` prefix, and the tree is zipped deterministically: entries
sorted, every timestamp 1980-01-01, every file mode 0644, no directory entries, no extra fields, no byte
code, no console scripts. The same inputs therefore give the same bytes, so ``source_code_hash`` — and so
the layer version — changes only when the code or a dependency does.

A function's code (``CodeSpec``: its directory, plus its own ``requirements.txt`` if it has one, installed
the same way for the same target) is zipped the same way at the archive's root, beside the shared layer.
Each function directory is its own artifact, so a change in one rebuilds only that one.

Builds are cached under ``build/`` by a fingerprint of their inputs (builder version, architecture, Python
version, requirements, constraints, every runtime file): an unchanged tree never runs pip again. Compressed
bytes depend on zlib, so the hash is stable per build machine image (CI), not across every laptop.
"""

from __future__ import annotations

import base64
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, Protocol

import pulumi

from runtime.scrub import scrub_text

Architecture = Literal["arm64", "x86_64"]

BUILDER_VERSION: Final = "1"  # bump when the artifact's layout changes
REPO_ROOT: Final = Path(__file__).resolve().parent.parent
DEFAULT_CACHE_DIR: Final = REPO_ROOT / "build"
RUNTIME_DIR: Final = REPO_ROOT / "runtime"
REQUIREMENTS: Final = RUNTIME_DIR / "requirements.txt"
CONSTRAINTS: Final = Path(__file__).resolve().parent / "build-constraints.txt"
LAYER_PREFIX: Final = "python"  # Lambda puts /opt/python on sys.path
RUNTIME_PACKAGE: Final = "runtime"

ZIP_DATE_TIME: Final = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can hold
ZIP_FILE_MODE: Final = 0o100644  # regular file, rw-r--r--
ZIP_UNIX: Final = 3
ZIP_COMPRESS_LEVEL: Final = 9
EXCLUDED_DIRS: Final = frozenset({"__pycache__"})
SCRIPTS_DIR: Final = "bin"  # console scripts: shebangs of the build machine, useless in Lambda
EXCLUDED_SUFFIXES: Final = (".pyc", ".pyo")
PIP_TIMEOUT_SECONDS: Final = 600
PIP_OUTPUT_TAIL_CHARS: Final = 2000

# Lambda's Python 3.12+ runtimes run on Amazon Linux 2023 (glibc 2.34): manylinux2014 and _2_28 wheels fit.
PLATFORM_TAGS: Final[dict[str, tuple[str, ...]]] = {
    "arm64": ("manylinux2014_aarch64", "manylinux_2_28_aarch64"),
    "x86_64": ("manylinux2014_x86_64", "manylinux_2_28_x86_64"),
}


class BuildError(RuntimeError):
    """pip could not assemble the artifact; the message holds the (scrubbed) end of pip's output."""


@dataclass(frozen=True)
class BuildSpec:
    """What one layer is built from. ``python_version`` is ``major.minor`` of the Lambda runtime."""

    architecture: Architecture
    python_version: str = "3.12"
    runtime_dir: Path = RUNTIME_DIR
    requirements: Path = REQUIREMENTS
    constraints: Path | None = CONSTRAINTS

    @staticmethod
    def for_runtime(lambda_runtime: str, architecture: Architecture) -> BuildSpec:
        """The spec for a Lambda runtime name such as ``python3.12``."""
        return BuildSpec(architecture=architecture, python_version=lambda_runtime.removeprefix("python"))

    @property
    def platforms(self) -> tuple[str, ...]:
        return PLATFORM_TAGS[self.architecture]

    def runtime_files(self) -> list[Path]:
        """``runtime/``'s Python sources, sorted (no byte code, no requirements, nothing else)."""
        return sorted(
            path
            for path in self.runtime_dir.rglob("*.py")
            if path.is_file() and not EXCLUDED_DIRS.intersection(path.relative_to(self.runtime_dir).parts)
        )

    def fingerprint(self) -> str:
        """sha256 over everything that decides the artifact's bytes."""
        digest = hashlib.sha256()
        for part in (BUILDER_VERSION, self.architecture, self.python_version, *self.platforms):
            digest.update(part.encode() + b"\0")
        inputs = [("requirements.txt", self.requirements)]
        if self.constraints is not None:
            inputs.append(("constraints.txt", self.constraints))
        inputs += [(f"runtime/{p.relative_to(self.runtime_dir).as_posix()}", p) for p in self.runtime_files()]
        for name, path in inputs:
            content = path.read_bytes()
            digest.update(f"{name}\0{len(content)}\0".encode() + content)
        return digest.hexdigest()

    def artifact_name(self, fingerprint: str) -> str:
        return f"layer-{self.architecture}-py{self.python_version}-{fingerprint[:16]}.zip"


@dataclass(frozen=True)
class LambdaArtifact:
    """A layer zip: built (``sha256_base64`` set) or only planned (not built: the offline plan, tests)."""

    path: Path
    fingerprint: str
    sha256_base64: str | None = None
    entries: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @property
    def built(self) -> bool:
        return self.sha256_base64 is not None

    @property
    def release(self) -> str:
        """A short, stable name for this artifact (Sentry's release)."""
        return f"ballast@{self.fingerprint[:12]}"

    def archive(self) -> pulumi.FileArchive:
        return pulumi.FileArchive(str(self.path))


LayerBuilder = Callable[[BuildSpec], LambdaArtifact]


class _ArtifactSpec(Protocol):
    """What the build cache needs of a spec: the fingerprint of its inputs and the zip's name for it."""

    def fingerprint(self) -> str: ...

    def artifact_name(self, fingerprint: str) -> str: ...


def _planned(spec: _ArtifactSpec, cache_dir: Path) -> LambdaArtifact:
    fingerprint = spec.fingerprint()
    return LambdaArtifact(cache_dir / spec.artifact_name(fingerprint), fingerprint)


def _cached_build(
    spec: _ArtifactSpec,
    cache_dir: Path,
    *,
    force: bool,
    fill: Callable[[Path], None],
    site_depth: int,
) -> LambdaArtifact:
    """Reuse ``spec``'s zip from ``cache_dir``, else ``fill`` an empty tree and zip it there atomically."""
    planned = _planned(spec, cache_dir)
    destination = planned.path
    if force or not destination.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="ballast-build-", dir=cache_dir) as work:
            tree = Path(work) / "tree"
            tree.mkdir()
            fill(tree)
            partial = Path(work) / destination.name
            write_deterministic_zip(tree, partial, site_depth=site_depth)
            os.replace(partial, destination)  # atomic: a concurrent build never sees half a zip
    return LambdaArtifact(
        destination, planned.fingerprint, sha256_base64(destination), tuple(zip_entries(destination))
    )


def planned_layer(spec: BuildSpec, *, cache_dir: Path = DEFAULT_CACHE_DIR) -> LambdaArtifact:
    """The artifact ``build_layer`` would produce, without building it (no pip, no network)."""
    return _planned(spec, cache_dir)


def build_layer(
    spec: BuildSpec,
    *,
    cache_dir: Path = DEFAULT_CACHE_DIR,
    force: bool = False,
    pip: Sequence[str] = (sys.executable, "-m", "pip"),
) -> LambdaArtifact:
    """Build (or reuse from ``cache_dir``) the layer zip for ``spec``."""

    def fill(tree: Path) -> None:
        site = tree / LAYER_PREFIX
        install_dependencies(spec, site, pip=pip)
        copy_runtime(spec, site / RUNTIME_PACKAGE)

    return _cached_build(spec, cache_dir, force=force, fill=fill, site_depth=1)


def install_dependencies(spec: BuildSpec, target: Path, *, pip: Sequence[str]) -> None:
    pip_install(
        spec.requirements,
        target,
        architecture=spec.architecture,
        python_version=spec.python_version,
        constraints=spec.constraints,
        pip=pip,
    )


def pip_install(
    requirements: Path,
    target: Path,
    *,
    architecture: Architecture,
    python_version: str,
    constraints: Path | None,
    pip: Sequence[str],
) -> None:
    """``pip install --target`` of the manylinux wheels for the Lambda target (raises :class:`BuildError`)."""
    command = [
        *pip,
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-input",
        "--no-compile",  # byte code would be for the build machine's Python, not the runtime's
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        python_version,
        *(arg for tag in PLATFORM_TAGS[architecture] for arg in ("--platform", tag)),
        "--target",
        str(target),
        "--requirement",
        str(requirements),
    ]
    if constraints is not None:
        command += ["--constraint", str(constraints)]
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=PIP_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        raise BuildError(f"pip did not finish within {PIP_TIMEOUT_SECONDS} s") from None
    if completed.returncode != 0:
        tail = scrub_text((completed.stderr or completed.stdout)[-PIP_OUTPUT_TAIL_CHARS:])
        raise BuildError(
            f"pip could not install {requirements} for {architecture} / Python "
            f"{python_version} (exit {completed.returncode}): {tail}"
        )


def copy_runtime(spec: BuildSpec, destination: Path) -> None:
    for source in spec.runtime_files():
        target = destination / source.relative_to(spec.runtime_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)  # content only: no mode, no timestamps


def iter_tree(root: Path, *, site_depth: int = 1) -> Iterator[tuple[str, Path]]:
    """(archive name, path) of every file under ``root`` worth shipping, sorted by name; ``site_depth`` is
    how deep pip's target (with its ``bin/`` of console scripts) sits: 1 in a layer, 0 in function code."""
    files = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if not path.is_file() or path.name.endswith(EXCLUDED_SUFFIXES):
            continue
        scripts = relative.parts[site_depth : site_depth + 1] == (SCRIPTS_DIR,) and len(relative.parts) > 1
        if EXCLUDED_DIRS.intersection(relative.parts[:-1]) or scripts:
            continue
        files.append((relative.as_posix(), path))
    yield from sorted(files)


def write_deterministic_zip(root: Path, destination: Path, *, site_depth: int = 1) -> None:
    """Zip ``root``'s files so that the same files always give the same bytes."""
    with zipfile.ZipFile(destination, "w") as archive:
        for name, path in iter_tree(root, site_depth=site_depth):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
            info.create_system = ZIP_UNIX
            info.external_attr = ZIP_FILE_MODE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=ZIP_COMPRESS_LEVEL)


def zip_entries(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def sha256_base64(path: Path) -> str:
    """What Lambda reports as ``CodeSha256`` (and Pulumi compares as ``source_code_hash``)."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode()


# A function's own code ------------------------------------------------------------------------------------

CODE_REQUIREMENTS: Final = "requirements.txt"  # a function directory's own third-party dependencies


@dataclass(frozen=True)
class CodeSpec:
    """One function's package: the files of ``code_dir`` at the zip's root, plus the wheels of its
    ``requirements.txt`` (if any) for the Lambda target. The layer provides ``runtime`` and its deps."""

    code_dir: Path
    architecture: Architecture
    python_version: str = "3.12"

    @staticmethod
    def for_runtime(code_dir: Path, lambda_runtime: str, architecture: Architecture) -> CodeSpec:
        return CodeSpec(code_dir, architecture, lambda_runtime.removeprefix("python"))

    @property
    def requirements(self) -> Path | None:
        path = self.code_dir / CODE_REQUIREMENTS
        return path if path.is_file() else None

    def files(self) -> list[Path]:
        """Every file of the directory (sorted; no byte code, nothing under ``__pycache__``)."""
        return sorted(
            path
            for path in self.code_dir.rglob("*")
            if path.is_file()
            and not path.name.endswith(EXCLUDED_SUFFIXES)
            and not EXCLUDED_DIRS.intersection(path.relative_to(self.code_dir).parts)
        )

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        platforms = PLATFORM_TAGS[self.architecture]
        for part in (BUILDER_VERSION, "code", self.architecture, self.python_version, *platforms):
            digest.update(part.encode() + b"\0")
        for path in self.files():
            content = path.read_bytes()
            name = path.relative_to(self.code_dir).as_posix()
            digest.update(f"{name}\0{len(content)}\0".encode() + content)
        return digest.hexdigest()

    def artifact_name(self, fingerprint: str) -> str:
        return f"code-{self.code_dir.name}-{self.architecture}-py{self.python_version}-{fingerprint[:16]}.zip"


CodeBuilder = Callable[[CodeSpec], LambdaArtifact]


def planned_code(spec: CodeSpec, *, cache_dir: Path = DEFAULT_CACHE_DIR) -> LambdaArtifact:
    """The artifact ``build_code`` would produce, without building it (no pip, no network)."""
    return _planned(spec, cache_dir)


def build_code(
    spec: CodeSpec,
    *,
    cache_dir: Path = DEFAULT_CACHE_DIR,
    force: bool = False,
    pip: Sequence[str] = (sys.executable, "-m", "pip"),
) -> LambdaArtifact:
    """Build (or reuse from ``cache_dir``) one function's code zip."""

    def fill(tree: Path) -> None:
        if spec.requirements is not None:
            pip_install(
                spec.requirements,
                tree,
                architecture=spec.architecture,
                python_version=spec.python_version,
                constraints=None,  # the team pins its own; the layer's constraints are the layer's
                pip=pip,
            )
        for source in spec.files():
            target = tree / source.relative_to(spec.code_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)

    return _cached_build(spec, cache_dir, force=force, fill=fill, site_depth=0)


def function_release(function: str, layer: LambdaArtifact, code: LambdaArtifact | None) -> str:
    """Sentry's release of one function: changes when its code or the layer does."""
    if code is None:
        return layer.release
    combined = hashlib.sha256(f"{layer.fingerprint}:{code.fingerprint}".encode()).hexdigest()
    return f"{function}@{combined[:12]}"


def host_spec() -> BuildSpec:
    """A spec for this machine's architecture and Python: an artifact that imports here (tests)."""
    machine = platform.machine().lower()
    architecture: Architecture = "arm64" if machine in ("aarch64", "arm64") else "x86_64"
    return BuildSpec(
        architecture=architecture, python_version=f"{sys.version_info.major}.{sys.version_info.minor}"
    )
