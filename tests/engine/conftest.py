"""Fixtures of the engine-faithful suite: a clone of the project the engine runs, the fake APIs, the stack.

The project is copied (its tracked program files, ``.venv`` linked) so that the program's own Lambda build
finds a placeholder layer and function packages in *the copy's* ``build/`` cache instead of running pip:
the real cache is never touched, and nothing else of the program differs from a clone.
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest

from infra.build import BuildSpec, CodeSpec
from infra.plan.stackfiles import load_stack_files
from localstage import LocalStage
from tests.engine.engine import Project
from tests.fixtures.fake_neon import TEST_API_KEY, FakeNeon
from tests.fixtures.fake_neon_pitr import PointInTimeNeon
from tests.fixtures.fake_sentry import TEST_AUTH_TOKEN, FakeSentry

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
PROGRAM_FILES: Final = (
    "Pulumi.yaml",
    "Pulumi.staging.yaml",
    "Pulumi.production.yaml",
    "__main__.py",
    "requirements.txt",
)
PROGRAM_DIRS: Final = ("infra", "runtime", "dbops", "app")  # app/: its migrations and ballast:functions
CREDENTIALS: Final = {"ballast:neonApiKey": TEST_API_KEY, "ballast:sentryAuthToken": TEST_AUTH_TOKEN}
SENTRY_TEAM: Final = "backend"


def clone_project(destination: Path) -> Project:
    for name in PROGRAM_FILES:
        shutil.copy2(REPO_ROOT / name, destination / name)
    for name in PROGRAM_DIRS:
        shutil.copytree(REPO_ROOT / name, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
    (destination / ".venv").symlink_to(REPO_ROOT / ".venv", target_is_directory=True)
    cache = destination / "build"
    cache.mkdir()
    for architecture in ("arm64", "x86_64"):
        for runtime in ("python3.12", "python3.13"):
            spec = BuildSpec.for_runtime(runtime, architecture)  # type: ignore[arg-type]
            with zipfile.ZipFile(cache / spec.artifact_name(spec.fingerprint()), "w") as placeholder:
                placeholder.writestr("python/runtime/PLACEHOLDER", "a test layer, never deployed")
            for code_dir in sorted(
                p
                for p in (destination / "app").iterdir()
                if (p / "requirements.txt").exists() or any(p.glob("*.py"))
            ):
                code = CodeSpec.for_runtime(code_dir, runtime, architecture)  # type: ignore[arg-type]
                with zipfile.ZipFile(cache / code.artifact_name(code.fingerprint()), "w") as placeholder:
                    placeholder.writestr("PLACEHOLDER", "a test function package, never deployed")
    return Project.load(destination)


@pytest.fixture(scope="package")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return clone_project(tmp_path_factory.mktemp("clone"))


@dataclass(frozen=True)
class Fakes:
    neon: FakeNeon
    sentry: FakeSentry


@pytest.fixture(scope="package")
def fakes(local_stage: LocalStage) -> Iterator[Fakes]:
    """The fake Neon and Sentry; no credential in this process's environment (config only). Each branch
    the program creates has a real database behind its direct URI: ``pulumi up`` migrates it."""
    neon_fake = PointInTimeNeon(
        api_key=TEST_API_KEY, postgres=local_stage.postgres, every_branch_real=True, operation_ticks=1
    )
    with (
        neon_fake as neon,
        FakeSentry(auth_token=TEST_AUTH_TOKEN) as sentry,
    ):
        try:
            yield Fakes(neon, sentry)
        finally:
            neon_fake.drop_copies()


def stack_config(project: Project, stack: str, fakes: Fakes, **overrides: str) -> dict[str, str]:
    """The stack's committed config as the CLI passes it, pointed at the fakes, credentials as secrets."""
    config = dict(load_stack_files(project.root, stack).config)
    config |= {
        "ballast:neonApiBaseUrl": fakes.neon.base_url,
        "ballast:sentryBaseUrl": fakes.sentry.base_url,
        "ballast:sentryOrganization": fakes.sentry.organization,
        "ballast:sentryTeam": SENTRY_TEAM,
        **CREDENTIALS,
        **overrides,
    }
    return config
