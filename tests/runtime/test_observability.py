"""Sentry set-up, proven on the wire: events are read back from a local envelope sink."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import sentry_sdk
from pydantic import SecretStr

from runtime import observability, scrub
from tests.fixtures.sentry_sink import SentrySink, SinkMode

DB_PASSWORD = "npg_Zq8vT3xLw9Kd"
DB_URL = f"postgresql://neondb_owner:{DB_PASSWORD}@ep-quiet-sun-123456.eu-central-1.aws.neon.tech/neondb"
EMAIL = "ada.lovelace@example.org"
CONTEXT_TOKEN = "tok_8f14e45fceea167a5a36dedd4bea2543"
SLACK_SECONDS = 0.35  # thread scheduling on a shared 2-core box

pytestmark = pytest.mark.usefixtures("clean_sentry")

SinkFactory = Callable[..., SentrySink]


@dataclass
class FakeSettings:
    """The fields of ``runtime.settings.Settings`` that observability reads."""

    stage: str = "staging"
    sentry_dsn: SecretStr | None = None
    sentry_release: str | None = None
    sentry_sample_rate: float = 1.0
    sentry_traces_sample_rate: float = 0.0
    sentry_flush_timeout_seconds: float = 2.0
    log_level: str = "INFO"

    @property
    def is_production(self) -> bool:
        return self.stage == "production"


def _settings(sink: SentrySink | None, **fields: object) -> FakeSettings:
    settings = FakeSettings(**fields)  # type: ignore[arg-type]
    if sink is not None:
        settings.sentry_dsn = SecretStr(sink.dsn)
    return settings


def _raise_and_capture(message: str, **tags: str) -> str | None:
    try:
        raise ConnectionError(message)
    except ConnectionError as error:
        return sentry_sdk.capture_exception(error, tags=tags)


def test_events_arrive_scrubbed_with_stage_and_release(sentry_sink: SentrySink) -> None:
    state = observability.init_sentry(_settings(sentry_sink, stage="staging", sentry_release="ballast@1.2.3"))
    assert state.enabled
    logger = logging.getLogger("tests.observability")
    logger.warning("retrying login of %s with password=hunter2", EMAIL)  # a breadcrumb
    sentry_sdk.set_context("account", {"token": CONTEXT_TOKEN, "owner": EMAIL})
    sentry_sdk.set_extra("conninfo", DB_URL)
    sentry_sdk.set_user({"id": "user-1", "email": EMAIL})
    event_id = _raise_and_capture(f"could not connect to {DB_URL} for {EMAIL}", error_id="ERR-TEST000001")
    observability.flush()

    [event] = sentry_sink.wait_for_events(1)
    assert event["event_id"] == event_id
    assert event["environment"] == "staging"
    assert event["release"] == "ballast@1.2.3"
    assert event["tags"]["error_id"] == "ERR-TEST000001"
    exception = event["exception"]["values"][-1]
    assert exception["type"] == "ConnectionError"
    assert exception["value"] == (
        "could not connect to postgresql://neondb_owner:[Filtered]@ep-quiet-sun-123456.eu-central-1.aws"
        ".neon.tech/neondb for [Filtered]"
    )
    assert event["contexts"]["account"] == {"token": "[Filtered]", "owner": "[Filtered]"}
    assert event["user"] == {"id": "user-1", "email": "[Filtered]"}
    [crumb] = [
        crumb for crumb in event["breadcrumbs"]["values"] if crumb["category"] == "tests.observability"
    ]
    assert crumb["message"] == "retrying login of [Filtered] with password=[Filtered]"
    received = sentry_sink.received_bytes()
    for secret in (DB_PASSWORD, EMAIL, CONTEXT_TOKEN, b"hunter2"):
        assert (secret if isinstance(secret, bytes) else secret.encode()) not in received


def test_without_our_scrubber_the_same_event_leaks(sentry_sink: SentrySink) -> None:
    """Control: the sink would see the planted values if ``before_send`` were the SDK default."""
    observability.init_sentry(_settings(sentry_sink), options={"before_send": None})
    sentry_sdk.set_context("account", {"token": CONTEXT_TOKEN})
    _raise_and_capture(f"could not connect to {DB_URL} for {EMAIL}")
    observability.flush()
    sentry_sink.wait_for_events(1)
    received = sentry_sink.received_bytes()
    assert DB_PASSWORD.encode() in received
    assert EMAIL.encode() in received


def test_envelopes_are_compressed_and_decoded(sentry_sink_factory: SinkFactory) -> None:
    encodings = {}
    for name, experiments in {"br": {}, "gzip": {"transport_compression_algo": "gzip"}}.items():
        sink = sentry_sink_factory(SinkMode.NORMAL)
        observability.init_sentry(_settings(sink), options={"_experiments": experiments})
        sentry_sdk.capture_message(f"compressed with {name}")
        observability.flush()
        [event] = sink.wait_for_events(1)
        assert event["message"] == f"compressed with {name}"
        encodings[name] = sink.envelopes[0].content_encoding
        observability.reset_sentry()
    assert encodings == {"br": "br", "gzip": "gzip"}


@pytest.mark.parametrize(
    ("stage", "expected_levels"),
    [("production", ["warning", "error"]), ("staging", ["info", "warning", "error"])],
)
def test_breadcrumb_levels_per_stage(sentry_sink: SentrySink, stage: str, expected_levels: list[str]) -> None:
    observability.init_sentry(_settings(sentry_sink, stage=stage))
    logger = logging.getLogger("tests.crumbs")
    logger.setLevel(logging.DEBUG)
    logger.debug("debug line")
    logger.info("info line")
    logger.warning("warning line")
    sentry_sdk.add_breadcrumb(message="manual error crumb", level="error", category="manual")
    sentry_sdk.add_breadcrumb(message="manual info crumb", level="info", category="manual")
    logger.error("the error that becomes the event")
    observability.flush()

    [event] = sentry_sink.wait_for_events(1)
    assert event["logentry"]["message"] == "the error that becomes the event"
    levels = [crumb["level"] for crumb in event["breadcrumbs"]["values"]]
    assert sorted(set(levels)) == sorted(expected_levels)
    assert "debug" not in levels


def test_warnings_are_breadcrumbs_not_events(sentry_sink: SentrySink) -> None:
    observability.init_sentry(_settings(sentry_sink))
    logging.getLogger("tests.events").warning("only a breadcrumb")
    observability.flush()
    sentry_sdk.capture_message("marker")
    observability.flush()
    events = sentry_sink.wait_for_events(1)
    assert [event.get("message") for event in events] == ["marker"]


def test_pii_defaults_stay_off_without_the_deprecated_flag(sentry_sink: SentrySink) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        observability.init_sentry(_settings(sentry_sink))
    assert not [warning for warning in caught if "send_default_pii" in str(warning.message)]
    client = sentry_sdk.get_client()
    assert client.is_active()
    assert sentry_sdk.scope.should_send_default_pii() is False
    assert client.options["auto_enabling_integrations"] is False


def test_initialised_once_per_process(sentry_sink_factory: SinkFactory) -> None:
    first, second = sentry_sink_factory(), sentry_sink_factory()
    state = observability.init_sentry(_settings(first))
    assert observability.init_sentry(_settings(second, stage="production")) is state
    sentry_sdk.capture_message("to the first sink")
    observability.flush()
    assert len(first.wait_for_events(1)) == 1
    assert second.events() == []


def test_flush_bound_follows_settings_and_the_sdk_never_waits_on_its_own(sentry_sink: SentrySink) -> None:
    state = observability.init_sentry(_settings(sentry_sink, sentry_flush_timeout_seconds=30))
    assert state.flush_timeout_seconds == observability.MAX_FLUSH_TIMEOUT_SECONDS
    # The Lambda integration flushes with shutdown_timeout before posting each result: 0 keeps ours alone.
    assert sentry_sdk.get_client().options["shutdown_timeout"] == 0
    assert observability.bounded_flush_timeout(None) == observability.DEFAULT_FLUSH_TIMEOUT_SECONDS
    assert observability.bounded_flush_timeout(0) == observability.DEFAULT_FLUSH_TIMEOUT_SECONDS
    assert observability.bounded_flush_timeout(0.5) == 0.5


def test_release_falls_back_to_the_published_lambda_version() -> None:
    settings = FakeSettings()
    lambda_env = {"AWS_LAMBDA_FUNCTION_NAME": "ballast-health", "AWS_LAMBDA_FUNCTION_VERSION": "7"}
    assert observability.release_for(settings, lambda_env) == "ballast-health@7"
    assert (
        observability.release_for(settings, {**lambda_env, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST"}) is None
    )
    assert observability.release_for(settings, {}) is None
    settings.sentry_release = "git-abc123"
    assert observability.release_for(settings, lambda_env) == "git-abc123"


def test_the_lambda_integration_is_never_enabled_the_decorator_owns_its_work(
    sentry_sink_factory: SinkFactory,
) -> None:
    """One owner of the per-invocation work (scope, request, flush, timeout warning): the decorator."""
    from sentry_sdk.integrations.aws_lambda import AwsLambdaIntegration

    lambda_env = {"AWS_LAMBDA_FUNCTION_NAME": "ballast-health", "AWS_LAMBDA_FUNCTION_VERSION": "3"}
    state = observability.init_sentry(_settings(sentry_sink_factory()), env=lambda_env)
    assert state.on_lambda
    assert state.release == "ballast-health@3"
    assert sentry_sdk.get_client().get_integration(AwsLambdaIntegration) is None


def test_sentry_and_its_integrations_are_imported_only_when_used() -> None:
    code = (
        "import sys, runtime.observability as o, runtime.decorator;"
        "loaded = sorted(m for m in sys.modules if m.startswith(('sentry_sdk', 'pydantic', 'psycopg')));"
        "print(','.join(loaded))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""


def test_no_dsn_disables_sentry_with_a_warning_in_development(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="runtime.observability"):
        state = observability.init_sentry(_settings(None, stage="development"))
    assert not state.enabled
    assert not sentry_sdk.get_client().is_active()
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "SENTRY_DSN" in record.getMessage()
    observability.flush()  # a no-op, not an error
    assert observability.capture_error(RuntimeError("x"), error_id="ERR-X", kind="unhandled") is None


def test_a_refused_dsn_disables_sentry_without_quoting_it(caplog: pytest.LogCaptureFixture) -> None:
    dsn = "https://not-a-valid-dsn-but-a-secret-looking-thing"
    with caplog.at_level(logging.WARNING, logger="runtime.observability"):
        state = observability.init_sentry(_settings(None, sentry_dsn=SecretStr(dsn)))
    assert not state.enabled
    assert "SENTRY_DSN" in caplog.text
    assert "not-a-valid-dsn" not in caplog.text


# --- an unreachable Sentry costs each flush at most its bound ----------------------------------------------


def _flush_times(count: int) -> list[float]:
    times = []
    for index in range(count):
        _raise_and_capture(f"failure {index} for {EMAIL}")
        started = time.monotonic()
        observability.flush()
        times.append(time.monotonic() - started)
    return times


@pytest.mark.drill
@pytest.mark.parametrize("mode", [SinkMode.DOWN, SinkMode.BLACK_HOLE, SinkMode.SLOW])
def test_unreachable_sentry_never_holds_a_flush_beyond_its_bound(
    sentry_sink_factory: SinkFactory, mode: SinkMode
) -> None:
    bound = 0.5
    sink = sentry_sink_factory(mode, slow_seconds=5.0)
    observability.init_sentry(_settings(sink, sentry_flush_timeout_seconds=bound))
    times = _flush_times(4)
    print(
        f"[sentry {mode.value}] flush bound {bound:.2f} s, flush times "
        + ", ".join(f"{t:.3f}" for t in times)
    )
    assert max(times) <= bound + SLACK_SECONDS
    if mode is SinkMode.BLACK_HOLE:
        assert sink.connections_held >= 1  # the SDK did reach the hole and is stuck there
        assert min(times) >= bound * 0.8  # and each flush really waited: the bound is what saved us
    if mode is SinkMode.SLOW:
        assert len(sink.envelopes) >= 1


def test_scrubbed_events_still_serialise(sentry_sink: SentrySink) -> None:
    scrub.register_secret(DB_URL)
    observability.init_sentry(_settings(sentry_sink))
    sentry_sdk.capture_message(f"literal {DB_PASSWORD} and structured", level="error")
    observability.flush()
    [event] = sentry_sink.wait_for_events(1)
    assert event["message"] == "literal [Filtered] and structured"
    assert json.dumps(event)


@pytest.mark.drill
def test_black_holed_sentry_delays_only_invocations_that_captured(sentry_sink_factory: SinkFactory) -> None:
    bound = 0.5
    sink = sentry_sink_factory(SinkMode.BLACK_HOLE)
    observability.init_sentry(_settings(sink, sentry_flush_timeout_seconds=bound))
    timings: dict[str, list[float]] = {"captured": [], "quiet": []}
    for index in range(6):
        captures = index % 2 == 0
        started = time.monotonic()
        with observability.invocation_scope(f"req-{index}") as invocation:
            if captures:
                _raise_and_capture(f"failure {index}")
            invocation.flush()
        assert invocation.captured_events() == (1 if captures else 0)
        timings["captured" if captures else "quiet"].append(time.monotonic() - started)
    print(
        f"[sentry black-hole] bound {bound:.2f} s; invocations with an event: "
        + ", ".join(f"{t:.3f}" for t in timings["captured"])
        + " s; without: "
        + ", ".join(f"{t:.3f}" for t in timings["quiet"])
        + " s"
    )
    assert sink.connections_held >= 1
    assert all(bound * 0.8 <= t <= bound + SLACK_SECONDS for t in timings["captured"])
    assert all(t <= 0.1 for t in timings["quiet"])


# --- the timeout warning --------------------------------------------------------------------------------


def test_an_invocation_about_to_time_out_is_reported_in_its_own_scope(sentry_sink: SentrySink) -> None:
    """Ends 1.2 s from now with a 0.5 s flush bound: the warning fires at ~0.7 s, while the work runs."""
    observability.init_sentry(_settings(sentry_sink, sentry_flush_timeout_seconds=0.5))
    started = time.monotonic()
    with observability.invocation_scope("req-slow", ends_at=started + 1.2) as invocation:
        time.sleep(1.0)  # the hung handler
        invocation.handler_done()
        invocation.flush()
    [event] = sentry_sink.wait_for_events(1)
    assert event["level"] == "warning"
    assert "about to hit its Lambda timeout" in event["message"]
    assert event["tags"]["request_id"] == "req-slow"
    assert event["tags"]["error_kind"] == observability.TIMEOUT_WARNING_KIND


def test_an_invocation_that_finishes_in_time_sends_no_warning(sentry_sink: SentrySink) -> None:
    observability.init_sentry(_settings(sentry_sink, sentry_flush_timeout_seconds=0.5))
    with observability.invocation_scope("req-quick", ends_at=time.monotonic() + 0.8) as invocation:
        invocation.handler_done()
    time.sleep(0.6)  # past the moment the warning would have fired
    observability.flush()
    assert sentry_sink.events() == []


# --- per-invocation scopes: never shared -------------------------------------------------------------------


def test_invocations_in_flight_together_get_scopes_of_their_own(sentry_sink: SentrySink) -> None:
    observability.init_sentry(_settings(sentry_sink))
    with observability.invocation_scope("req-outer"):
        outer = sentry_sdk.get_isolation_scope()
        with observability.invocation_scope("req-inner"):
            inner = sentry_sdk.get_isolation_scope()
            sentry_sdk.set_tag("only", "inner")
        assert sentry_sdk.get_isolation_scope() is outer
        _raise_and_capture("outer failure")
    assert inner is not outer
    observability.flush()
    [event] = sentry_sink.wait_for_events(1)
    assert event["tags"]["request_id"] == "req-outer"
    assert "only" not in event["tags"]


def test_what_the_process_scope_holds_reaches_every_invocation_but_not_its_breadcrumbs(
    sentry_sink: SentrySink,
) -> None:
    """As with a fork of the process-level scope: its tags and processors carry over, the cold start's
    breadcrumbs do not, and what an invocation sets stays out of the process-level scope."""
    observability.init_sentry(_settings(sentry_sink))
    sentry_sdk.set_tag("service", "orders")  # at import time, outside any invocation
    sentry_sdk.add_breadcrumb(message="cold start", category="init")
    sentry_sdk.get_isolation_scope().add_event_processor(_tag_processed)
    for index in range(2):
        with observability.invocation_scope(f"req-{index}"):
            sentry_sdk.set_tag(f"set-in-{index}", "yes")
            _raise_and_capture(f"failure {index}")
    observability.flush()
    events = sorted(sentry_sink.wait_for_events(2), key=lambda event: event["tags"]["request_id"])
    for index, event in enumerate(events):
        assert event["tags"]["service"] == "orders"
        assert event["tags"]["processed"] == "yes"
        assert [name for name in event["tags"] if name.startswith("set-in-")] == [f"set-in-{index}"]
        assert "cold start" not in json.dumps(event.get("breadcrumbs", {}))
    assert "set-in-0" not in sentry_sdk.get_isolation_scope()._tags


def _tag_processed(event: Any, hint: Any) -> Any:
    event.setdefault("tags", {})["processed"] = "yes"
    return event
