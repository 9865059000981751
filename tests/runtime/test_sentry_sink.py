"""The envelope sink's own decoding: the observability tests are only as good as what it reads."""

from __future__ import annotations

import gzip
import json
import zlib

import brotli
import pytest
import requests

from tests.fixtures.sentry_sink import EnvelopeError, SentrySink, decode_body, parse_envelope

EVENT = {"event_id": "0123456789abcdef0123456789abcdef", "message": "hello\nworld"}


def _envelope(*, with_length: bool) -> bytes:
    event = json.dumps(EVENT).encode()
    attachment = b"line one\nline two"
    lines = [json.dumps({"event_id": EVENT["event_id"]}).encode()]
    if with_length:
        lines += [json.dumps({"type": "event", "length": len(event)}).encode(), event]
        lines += [json.dumps({"type": "attachment", "length": len(attachment)}).encode(), attachment]
    else:  # newline-delimited payloads (no line breaks inside them)
        lines += [json.dumps({"type": "event"}).encode(), event]
        lines += [json.dumps({"type": "client_report"}).encode(), b'{"discarded_events":[]}']
    return b"\n".join(lines) + b"\n"


def test_items_with_length_may_hold_newlines() -> None:
    envelope = parse_envelope(_envelope(with_length=True))
    assert envelope.headers == {"event_id": EVENT["event_id"]}
    assert [item.type for item in envelope.items] == ["event", "attachment"]
    assert envelope.items[0].json() == EVENT
    assert envelope.items[1].payload == b"line one\nline two"


def test_items_without_length_end_at_the_newline() -> None:
    envelope = parse_envelope(_envelope(with_length=False))
    assert [item.type for item in envelope.items] == ["event", "client_report"]
    assert envelope.items[0].json() == EVENT
    assert envelope.items[1].json() == {"discarded_events": []}


def test_last_item_without_trailing_newline() -> None:
    envelope = parse_envelope(_envelope(with_length=True).rstrip(b"\n"))
    assert envelope.items[1].payload == b"line one\nline two"


@pytest.mark.parametrize(
    "body",
    [b"not json\n", b'{"event_id": "x"}\n{"type": "event", "length": 999}\n{}\n', b"[]\n"],
)
def test_malformed_envelopes_are_refused(body: bytes) -> None:
    with pytest.raises(EnvelopeError):
        parse_envelope(body)


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("br", brotli.compress),
        ("deflate", zlib.compress),
        ("identity", lambda data: data),
    ],
)
def test_bodies_are_decoded_by_content_encoding(encoding: str, encode: object) -> None:
    data = _envelope(with_length=True)
    assert callable(encode)
    assert decode_body(encode(data), encoding) == data


def test_the_sink_serves_the_envelope_endpoint_only(sentry_sink: SentrySink) -> None:
    base = f"http://127.0.0.1:{sentry_sink.port}"
    ok = requests.post(
        f"{base}/api/42/envelope/",
        data=gzip.compress(_envelope(with_length=True)),
        headers={"Content-Encoding": "gzip", "X-Sentry-Auth": "Sentry sentry_key=k"},
        timeout=5,
    )
    assert ok.status_code == 200
    assert requests.post(f"{base}/api/42/store/", data=b"{}", timeout=5).status_code == 404
    assert requests.post(f"{base}/api/42/envelope/", data=b"garbage", timeout=5).status_code == 400
    assert sentry_sink.wait_for_events(1) == [EVENT]
    assert sentry_sink.envelopes[0].content_encoding == "gzip"
    assert sentry_sink.envelopes[0].project_id == "42"
    assert len(sentry_sink.rejected) == 2
