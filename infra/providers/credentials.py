"""Control-plane credentials for Ballast's dynamic providers: handed over in ``configure()``, never state.

The engine starts the provider host (``python -m pulumi.dynamic``) and, before any Check, sends it the
stack's *whole* configuration with the namespace kept (``ballast:neonApiKey``), secrets decrypted; the
host passes it to each provider's :meth:`CredentialedProvider.configure` once after unpickling it. The
credential is kept on the live provider object only: :meth:`CredentialedProvider.__getstate__` leaves it
out, and the program (which pickles providers into ``__provider``) never calls ``configure``. So no
credential is ever a resource input, an output or part of a pickled provider, and ``pulumi destroy``
finds it where ``pulumi up`` did. When the stack has no such config, the environment variable
(``NEON_API_KEY`` / ``SENTRY_AUTH_TOKEN``) is read at call time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import pulumi.dynamic as dyn

from runtime import constants

CONFIG_NAMESPACE: Final = "ballast"  # the project name: stack config keys are ballast:<name>


class MissingCredential(Exception):
    """A control-plane credential is absent; the message names the config key and env var (never a value)."""


@dataclass(frozen=True)
class Credential:
    """One credential: its stack config name (under ``ballast:``), its env-var fallback, what it is."""

    name: str
    env_var: str
    what: str

    @property
    def config_key(self) -> str:
        return f"{CONFIG_NAMESPACE}:{self.name}"

    @property
    def where(self) -> str:
        return f"{self.config_key} or {self.env_var}"

    def from_config(self, config: dyn.Config) -> str | None:
        """The value in the configuration the engine sent (secrets arrive decrypted), or None."""
        return _text(config.get(self.config_key))

    def resolve(self, configured: str | None) -> str:
        """``configured`` if given, else the env var read now; raises :class:`MissingCredential`."""
        value = self.find(configured)
        if value is None:
            raise MissingCredential(self.missing())
        return value

    def find(self, configured: str | None) -> str | None:
        return _text(configured) or _text(os.environ.get(self.env_var))

    def missing(self) -> str:
        return (
            f"{self.what} is missing: set it with `pulumi config set --secret {self.config_key}` "
            f"or export {self.env_var} in the environment that runs `pulumi`"
        )


NEON_API_KEY: Final = Credential("neonApiKey", constants.NEON_API_KEY, "The Neon API key")
SENTRY_AUTH_TOKEN: Final = Credential("sentryAuthToken", constants.SENTRY_AUTH_TOKEN, "The Sentry auth token")
CREDENTIALS: Final = (NEON_API_KEY, SENTRY_AUTH_TOKEN)
# Inputs that held a credential before it moved to configure(): dropped from state on the next update.
LEGACY_CREDENTIAL_PROPS: Final = ("api_key", "auth_token")


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


class CredentialedProvider(dyn.ResourceProvider):
    """Base of every Ballast dynamic provider: its one credential comes from ``configure()`` or the env."""

    CREDENTIAL: ClassVar[Credential]
    # A class default, not set in __init__: providers unpickled from old state skip __init__.
    _configured_credential: str | None = None

    def configure(self, req: dyn.ConfigureRequest) -> None:
        self._configured_credential = self.CREDENTIAL.from_config(req.config)

    def credential(self) -> str:
        """The credential for one API call (raises :class:`MissingCredential` naming key and env var)."""
        return self.CREDENTIAL.resolve(self._configured_credential)

    def credential_failures(self) -> list[dyn.CheckFailure]:
        """For ``check()``: a missing credential stops ``pulumi preview`` with one clear line, before any
        create would fail with the provider host's traceback. (No property: the engine prints the reason.)"""
        if self.CREDENTIAL.find(self._configured_credential) is not None:
            return []
        return [dyn.CheckFailure("", self.CREDENTIAL.missing())]

    def __getstate__(self) -> dict[str, Any]:
        """What pickling keeps: never the configured credential."""
        return {k: v for k, v in self.__dict__.items() if k != "_configured_credential"}
