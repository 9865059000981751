"""Fault drills: each records the bound it measured (printed at once, and listed again in the terminal
summary so CI output carries the figures)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from localstage import LocalStage
from runtime import constants
from tests.fixtures.services import require_server_programs

# The drills' own servers: stopping them cannot disturb the session stage other tests share.
QUERY_WAIT_TIMEOUT_SECONDS = 20  # well above every bound below: our bound must answer, not PgBouncer's
SERVER_LOGIN_RETRY_SECONDS = 1
HEALTH_CHECK_TIMEOUT_SECONDS = 1.0

_RECORDED = pytest.StashKey[list["DrillFigure"]]()


@dataclass(frozen=True)
class DrillFigure:
    drill: str
    label: str
    value: float
    unit: str
    bound: float | None

    def line(self) -> str:
        text = f"{self.drill}: {self.label} {self.value:.3g} {self.unit}"
        if self.bound is not None:
            verdict = "within" if self.value <= self.bound else "OVER"
            text += f" ({verdict} bound {self.bound:g} {self.unit})"
        return text


DrillReport = Callable[..., None]


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_RECORDED] = []


@pytest.fixture
def drill_report(request: pytest.FixtureRequest) -> DrillReport:
    """`drill_report(label, value, unit, bound=None)`: record one measured figure of this drill."""
    recorded = request.config.stash[_RECORDED]

    def record(label: str, value: float, unit: str = "s", bound: float | None = None) -> None:
        figure = DrillFigure(request.node.name, label, value, unit, bound)
        recorded.append(figure)
        print(f"[drill] {figure.line()}")

    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    recorded = config.stash.get(_RECORDED, [])
    if recorded:
        terminalreporter.section("fault drill bounds")
        for figure in recorded:
            terminalreporter.write_line(figure.line())


@pytest.fixture
def drill_stage() -> Iterator[LocalStage]:
    """A PostgreSQL + PgBouncer pair of this drill's own, on free loopback ports; removed after."""
    require_server_programs()
    with LocalStage(
        query_wait_timeout=QUERY_WAIT_TIMEOUT_SECONDS, server_login_retry=SERVER_LOGIN_RETRY_SECONDS
    ) as stage:
        yield stage


RuntimeConfigurer = Callable[..., None]


@pytest.fixture
def configure_runtime(
    drill_stage: LocalStage, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RuntimeConfigurer]:
    """`configure_runtime(DB_POOL_MAX_SIZE="2", ...)`: a development env pointed at the drill's PgBouncer
    (plus overrides, by env-var name), with fresh settings and no pool; both reset again afterwards."""
    from runtime import db, settings

    def configure(**overrides: str) -> None:
        db.close_pool()
        env = drill_stage.development_env() | {
            constants.HEALTH_CHECK_TIMEOUT_SECONDS: str(HEALTH_CHECK_TIMEOUT_SECONDS)
        }
        monkeypatch.delenv(constants.SENTRY_DSN, raising=False)
        for name, value in (env | overrides).items():
            monkeypatch.setenv(name, value)
        settings.reset_settings()

    configure()
    yield configure
    db.close_pool()
    settings.reset_settings()
