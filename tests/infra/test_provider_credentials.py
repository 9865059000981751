"""Credentials of the dynamic providers: stack config handed to ``configure()``, else the env var at call
time; never pickled; a missing one named by config key and env var (no value)."""

from __future__ import annotations

import base64
import pickle

import dill
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from infra.providers.credentials import NEON_API_KEY, SENTRY_AUTH_TOKEN, MissingCredential
from infra.providers.neon import NeonBranchProvider, NeonRoleProvider
from infra.providers.sentry import SentryClientKeyProvider, SentryProjectProvider
from tests.fixtures.config import configured

KEY = "napi_configured_key_5Tq"


def test_configured_value_wins_then_the_env_var_is_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEON_API_KEY", "from-env")
    provider = NeonRoleProvider()
    assert provider.credential() == "from-env"
    configured(provider, {"ballast:neonApiKey": KEY, "ballast:sentryAuthToken": "other"})
    assert provider.credential() == KEY
    configured(provider, {"ballast:neonApiKey": "   "})  # blank config counts as absent
    monkeypatch.setenv("NEON_API_KEY", "changed-env")
    assert provider.credential() == "changed-env"


@pytest.mark.parametrize(
    ("provider", "key", "env"),
    [
        (NeonBranchProvider(), "ballast:neonApiKey", "NEON_API_KEY"),
        (SentryProjectProvider(), "ballast:sentryAuthToken", "SENTRY_AUTH_TOKEN"),
        (SentryClientKeyProvider(), "ballast:sentryAuthToken", "SENTRY_AUTH_TOKEN"),
    ],
)
def test_a_missing_credential_names_its_config_key_and_env_var(
    provider: NeonBranchProvider | SentryProjectProvider, key: str, env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(env, raising=False)
    configured(provider, {"ballast:unrelated": "x"})
    with pytest.raises(MissingCredential) as caught:
        provider.credential()
    assert f"pulumi config set --secret {key}" in str(caught.value)
    assert f"export {env}" in str(caught.value)


def test_the_configured_credential_is_never_pickled_and_pickles_stay_as_before() -> None:
    plain = serialize_provider(NeonBranchProvider())
    provider = configured(NeonBranchProvider(), {"ballast:neonApiKey": KEY})
    blob = serialize_provider(provider)
    assert KEY.encode() not in base64.b64decode(blob)
    assert KEY.encode() not in pickle.dumps(provider)
    assert blob == plain  # configuring changes nothing in the state's __provider
    loaded = dill.loads(base64.b64decode(blob))  # noqa: S301 - the blob made just above
    assert "_configured_credential" not in vars(loaded)


def test_config_keys_and_env_vars_are_the_documented_ones() -> None:
    assert (NEON_API_KEY.config_key, NEON_API_KEY.env_var) == ("ballast:neonApiKey", "NEON_API_KEY")
    assert (SENTRY_AUTH_TOKEN.config_key, SENTRY_AUTH_TOKEN.env_var) == (
        "ballast:sentryAuthToken",
        "SENTRY_AUTH_TOKEN",
    )
