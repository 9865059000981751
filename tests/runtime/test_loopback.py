from __future__ import annotations

import pytest

from runtime.loopback import find_loopback, is_loopback_host
from tests.loopback_corpus import LOOKALIKE_HOSTS, LOOPBACK_CASES


@pytest.mark.parametrize(("value", "host"), LOOPBACK_CASES)
def test_every_loopback_spelling_is_found_with_its_host(value: str, host: str) -> None:
    assert find_loopback(value) == host


@pytest.mark.parametrize("value", LOOKALIKE_HOSTS)
def test_real_hosts_that_merely_look_local_are_not_flagged(value: str) -> None:
    assert find_loopback(value) is None


def test_the_corpus_is_as_large_as_promised() -> None:
    assert len({value for value, _ in LOOPBACK_CASES}) >= 50
    assert len(set(LOOKALIKE_HOSTS)) >= 20


@pytest.mark.parametrize("count", ["0", "1", "20", "512"])
def test_plain_counts_outside_urls_are_not_addresses(count: str) -> None:
    assert find_loopback(count) is None


def test_a_single_host_is_classified_without_parsing_urls() -> None:
    assert is_loopback_host("[::1]")
    assert is_loopback_host("/var/run/postgresql")
    assert not is_loopback_host("db.example.com")


def test_empty_and_none_like_values_are_clean() -> None:
    assert find_loopback("") is None
    assert find_loopback("   ") is None


@pytest.mark.parametrize("value", ["0.0", "1.5", "/aws/lambda/ballast-production-api-v2", "/var/log/app1"])
def test_sample_rates_and_plain_paths_are_not_hosts(value: str) -> None:
    # The policy pack runs the detector on every string: a sample rate or a log-group name is not a host.
    assert find_loopback(value) is None


@pytest.mark.parametrize(
    ("value", "host"),
    [
        ("postgresql://u:p@db.example.com/app?host=%2Fvar%2Frun", "/var/run"),
        ("postgresql://u:p@db.example.com/app?hostaddr=127.0.0.1", "127.0.0.1"),
        (
            "http://%EF%BD%8C%EF%BD%8F%EF%BD%83%EF%BD%81%EF%BD%8C%EF%BD%88%EF%BD%8F%EF%BD%93%EF%BD%94/",
            "localhost",
        ),
        ("2130706433:8080", "2130706433"),
        ("http://2147483647/", "2147483647"),  # in a host position every 127/8 spelling counts
    ],
)
def test_host_positions_judge_every_spelling(value: str, host: str) -> None:
    assert find_loopback(value) == host


def test_what_a_host_position_means_is_not_extended_to_bare_words() -> None:
    # The same spelling is an address where a client reads a host, and a number anywhere else.
    assert find_loopback("http://0x7fffffff/") == "0x7fffffff"
    assert find_loopback("0x7fffffff") is None
    assert find_loopback("postgresql://db.example.com/app?host=") == "/"
    assert find_loopback("https://db.example.com/app?host=") is None  # only libpq reads ?host=
