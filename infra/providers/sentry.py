"""Pulumi dynamic providers for Sentry: a project in a team and a rate-limited client key (DSN).

Resource types: ``pulumi-python:dynamic/sentry:Project`` and ``pulumi-python:dynamic/sentry:ClientKey``,
over Sentry's management API (``/api/0/...``) through the shared retrying helper (``infra.providers.http``).

The auth token follows the same rule as the Neon key: the providers (pickled into the state by reference)
hold only a retry policy; the token comes in ``configure()`` from the stack's ``ballast:sentryAuthToken``,
else ``SENTRY_AUTH_TOKEN`` is read at call time — never an input or output (``infra.providers.credentials``).
Only the key's public DSN leaves Sentry, as a secret output; the legacy secret key in Sentry's response is
dropped. The base URL is an input: ``https://sentry.io`` (or a region such as
``https://de.sentry.io``) or a self-hosted Sentry.

Token scopes, as the published API requires them (any one listed scope admits a call):
``project:read`` to read a project and its keys (GET); ``project:write`` to create a project in a team and
to create or update keys, and to update a project's name or platform (``project:read`` alone may change
only ``isBookmarked``); ``project:admin`` to delete a project or a key — what ``pulumi destroy`` of a
preview and a project's replacement do. So: ``project:read``, ``project:write``, ``project:admin``.

A project cannot change team through the published API (``PUT`` takes no team): a new ``team`` replaces
the project, deleting the old one first (``Monitoring`` sets ``delete_before_replace``: the slug is unique
in the organization). A project moved to another team in Sentry itself is read back by a refresh, so
``pulumi up --refresh`` then keeps it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pulumi
import pulumi.dynamic as dyn

from infra.providers.credentials import SENTRY_AUTH_TOKEN, CredentialedProvider
from infra.providers.http import ApiClient, NotFound, RetryPolicy, recover_create
from infra.providers.props import (
    diff_keys,
    is_unknown,
    keep_unknowns,
    optional_text,
    read_inputs,
    required_failures,
    stored,
    with_secret_outputs,
)

SENTRY_API_BASE_URL = "https://sentry.io"
SERVICE = "Sentry"
SLUG = re.compile(r"^(?![0-9]+$)[a-z0-9_\-]+$")  # Sentry's published slug pattern
MAX_SLUG_CHARS = 100
MAX_PROJECT_NAME_CHARS = 50
MAX_KEY_NAME_CHARS = 64
MAX_RATE_LIMIT_WINDOW_SECONDS = 86400
RATE_LIMIT_KEYS = ("rate_limit_count", "rate_limit_window_seconds")
SCOPES = ("project:read", "project:write", "project:admin")  # which call needs which: module docstring
AUTH_HINT = (
    f"check the Sentry auth token ({SENTRY_AUTH_TOKEN.where}) and its scopes: project:read reads, "
    "project:write creates and updates projects and keys, project:admin deletes a project or a key"
)


class SentryProvisioningError(Exception):
    """Sentry answered, but provisioning cannot go on (the message says why and what to do)."""


def _api_path(*segments: str) -> str:
    return "api/0/" + "".join(quote(s, safe="") + "/" for s in segments)


def _text(props: Mapping[str, Any], key: str) -> str:
    value = props.get(key)
    if not isinstance(value, str) or not value:
        raise SentryProvisioningError(f"{key} is required")
    return value


def project_problems(slug: str | None, name: str | None) -> list[tuple[str, str]]:
    """(property, reason) for a project slug/name Sentry would refuse (None: not known yet, skipped)."""
    problems: list[tuple[str, str]] = []
    if slug and len(slug) > MAX_SLUG_CHARS:
        problems.append(("project_slug", f"has at most {MAX_SLUG_CHARS} characters"))
    if slug and not SLUG.match(slug):
        reason = "use lowercase letters, digits, '-' and '_' (not only digits)"
        problems.append(("project_slug", f"{slug!r} is not a Sentry slug: {reason}"))
    if name and len(name) > MAX_PROJECT_NAME_CHARS:
        problems.append(("project_name", f"has at most {MAX_PROJECT_NAME_CHARS} characters"))
    return problems


def _too_long(news: Mapping[str, Any], key: str, limit: int) -> list[dyn.CheckFailure]:
    value = news.get(key)
    if isinstance(value, str) and not is_unknown(value) and len(value) > limit:
        return [dyn.CheckFailure(key, f"{key} has at most {limit} characters")]
    return []


class _SentryProvider(CredentialedProvider):
    """Pickled into the state with its retry policy only; the token comes in ``configure()``."""

    CREDENTIAL = SENTRY_AUTH_TOKEN

    def __init__(self, retry: RetryPolicy | None = None) -> None:
        super().__init__()
        self.retry = retry or RetryPolicy()

    def _client(self, props: Mapping[str, Any]) -> ApiClient:
        return ApiClient(
            service=SERVICE,
            base_url=optional_text(props, "api_base_url") or SENTRY_API_BASE_URL,
            credential=self.credential(),
            policy=self.retry,
            auth_hint=AUTH_HINT,
        )


class SentryProjectProvider(_SentryProvider):
    """A project created in a team. ID: ``organization/project_slug``."""

    REPLACE_KEYS = ("organization", "team", "project_slug", "api_base_url")
    UPDATE_KEYS = ("project_name", "platform")
    INPUT_KEYS = (*REPLACE_KEYS, *UPDATE_KEYS)

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        required = ("organization", "team", "project_slug", "project_name")
        failures = self.credential_failures() + required_failures(news, required)
        slug, name = news.get("project_slug"), news.get("project_name")
        known = [v if isinstance(v, str) and not is_unknown(v) else None for v in (slug, name)]
        failures += [dyn.CheckFailure(prop, reason) for prop, reason in project_problems(*known)]
        return dyn.CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        org, team, slug = _text(props, "organization"), _text(props, "team"), _text(props, "project_slug")
        body: dict[str, Any] = {"name": _text(props, "project_name"), "slug": slug, "default_rules": True}
        if props.get("platform"):
            body["platform"] = props["platform"]
        with self._client(props) as sentry:
            if _find_project(sentry, org, slug) is not None:
                raise SentryProvisioningError(
                    f"Sentry organization {org} already has a project {slug!r}: choose another project_slug, "
                    "or delete that project if it was left behind"
                )
            project = recover_create(
                lambda: sentry.post(_api_path("teams", org, team, "projects"), body),
                lambda: _find_project(sentry, org, slug),
            )
        return dyn.CreateResult(f"{org}/{slug}", {**stored(props), "project_id": str(project.get("id", ""))})

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        with self._client(props) as sentry:
            project = _find_project(sentry, _text(props, "organization"), _text(props, "project_slug"))
        if project is None:
            return dyn.ReadResult("", {})
        live = {"project_id": str(project.get("id", "")), "project_name": project.get("name")}
        teams = [t.get("slug") for t in project.get("teams") or [] if isinstance(t, dict)]
        if teams and props.get("team") not in teams:  # moved to another team in Sentry
            live["team"] = teams[0]
        outs = stored({**props, **live})
        return dyn.ReadResult(id_, outs, read_inputs(outs, self.INPUT_KEYS))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        return diff_keys(olds, news, replace=self.REPLACE_KEYS, update=self.UPDATE_KEYS)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        fields: dict[str, Any] = {}
        if olds.get("project_name") != news.get("project_name"):
            fields["name"] = news["project_name"]
        if olds.get("platform") != news.get("platform"):
            fields["platform"] = news.get("platform")
        if fields:
            with self._client(news) as sentry:
                path = _api_path("projects", _text(news, "organization"), _text(news, "project_slug"))
                sentry.put(path, fields)
        return dyn.UpdateResult({**stored(news), "project_id": olds.get("project_id")})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        with self._client(props) as sentry:
            try:
                sentry.delete(
                    _api_path("projects", _text(props, "organization"), _text(props, "project_slug"))
                )
            except NotFound:
                return


def _find_project(sentry: ApiClient, org: str, slug: str) -> dict[str, Any] | None:
    try:
        project = sentry.get(_api_path("projects", org, slug))
    except NotFound:
        return None
    return project if isinstance(project, dict) else None


@dataclass(frozen=True)
class RateLimit:
    """At most ``count`` events per ``window_seconds`` accepted through one client key."""

    count: int
    window_seconds: int

    @staticmethod
    def from_props(props: Mapping[str, Any]) -> RateLimit:
        return RateLimit(int(props["rate_limit_count"]), int(props["rate_limit_window_seconds"]))

    def problems(self) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        if self.count < 1:
            problems.append(("rate_limit_count", "must be at least 1 event per window"))
        if not 1 <= self.window_seconds <= MAX_RATE_LIMIT_WINDOW_SECONDS:
            problems.append(
                ("rate_limit_window_seconds", f"must be 1 to {MAX_RATE_LIMIT_WINDOW_SECONDS} seconds")
            )
        return problems

    def body(self) -> dict[str, int]:
        return {"window": self.window_seconds, "count": self.count}


class SentryClientKeyProvider(_SentryProvider):
    """A project's client key with a rate limit; ``dsn`` (public DSN) is a secret output. ID: the key id."""

    REPLACE_KEYS = ("organization", "project_slug", "api_base_url")
    UPDATE_KEYS = ("key_name", "rate_limit_count", "rate_limit_window_seconds")
    INPUT_KEYS = (*REPLACE_KEYS, *UPDATE_KEYS)

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        failures = self.credential_failures() + required_failures(
            news, ("organization", "project_slug", "key_name")
        )
        failures += _too_long(news, "key_name", MAX_KEY_NAME_CHARS)
        if any(is_unknown(news.get(k)) for k in RATE_LIMIT_KEYS):
            return dyn.CheckResult(news, failures)  # judged once known
        try:
            limit = RateLimit.from_props(news)
        except (KeyError, TypeError, ValueError):
            failures.append(
                dyn.CheckFailure("rate_limit_count", "rate_limit_count and _window_seconds are numbers")
            )
            return dyn.CheckResult(news, failures)
        failures += [dyn.CheckFailure(prop, reason) for prop, reason in limit.problems()]
        normalized = {"rate_limit_count": limit.count, "rate_limit_window_seconds": limit.window_seconds}
        return dyn.CheckResult(keep_unknowns(news, normalized), failures)

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        org, slug, name = _text(props, "organization"), _text(props, "project_slug"), _text(props, "key_name")
        limit = RateLimit.from_props(props)
        keys_path = _api_path("projects", org, slug, "keys")
        with self._client(props) as sentry:
            before = {str(k.get("id")) for k in _list_keys(sentry, keys_path) if k.get("name") == name}
            key = recover_create(
                lambda: sentry.post(keys_path, {"name": name, "rateLimit": limit.body()}),
                lambda: _new_key_named(sentry, keys_path, name, before),
            )
        outs = {**stored(props), **_key_outputs(key)}
        return dyn.CreateResult(outs["key_id"], outs)

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        path = _api_path("projects", _text(props, "organization"), _text(props, "project_slug"), "keys", id_)
        with self._client(props) as sentry:
            try:
                key = sentry.get(path)
            except NotFound:
                return dyn.ReadResult("", {})
        live = _key_outputs(key)
        rate = key.get("rateLimit") if isinstance(key, dict) else None
        if isinstance(rate, dict):
            live |= {"rate_limit_count": rate.get("count"), "rate_limit_window_seconds": rate.get("window")}
        outs = stored({**props, **live, "key_name": key.get("name")})
        return dyn.ReadResult(id_, outs, read_inputs(outs, self.INPUT_KEYS))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        return diff_keys(olds, news, replace=self.REPLACE_KEYS, update=self.UPDATE_KEYS)

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        path = _api_path("projects", _text(news, "organization"), _text(news, "project_slug"), "keys", id_)
        body = {"name": _text(news, "key_name"), "rateLimit": RateLimit.from_props(news).body()}
        with self._client(news) as sentry:
            key = sentry.put(path, body)
        return dyn.UpdateResult({**stored(news), **_key_outputs(key)})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        path = _api_path("projects", _text(props, "organization"), _text(props, "project_slug"), "keys", id_)
        with self._client(props) as sentry:
            try:
                sentry.delete(path)
            except NotFound:
                return


def _list_keys(sentry: ApiClient, keys_path: str) -> list[dict[str, Any]]:
    keys = sentry.get(keys_path)
    return [k for k in keys if isinstance(k, dict)] if isinstance(keys, list) else []


def _new_key_named(sentry: ApiClient, keys_path: str, name: str, before: set[str]) -> dict[str, Any] | None:
    """After a lost create response: a key with our name that was not there before, if Sentry made one."""
    return next(
        (
            k
            for k in _list_keys(sentry, keys_path)
            if k.get("name") == name and str(k.get("id")) not in before
        ),
        None,
    )


def _key_outputs(key: Any) -> dict[str, Any]:
    dsn = key.get("dsn") if isinstance(key, dict) else None
    public_dsn = dsn.get("public") if isinstance(dsn, dict) else None
    if not isinstance(public_dsn, str) or not public_dsn:
        raise SentryProvisioningError("Sentry's client key response holds no public DSN")
    return {"key_id": str(key.get("id", "")), "dsn": public_dsn}


# Resources ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SentryProjectArgs:
    organization: pulumi.Input[str]
    team: pulumi.Input[str]
    project_slug: pulumi.Input[str]
    project_name: pulumi.Input[str]
    platform: str | None = "python-awslambda"
    api_base_url: str = SENTRY_API_BASE_URL


class SentryProject(dyn.Resource, module="sentry", name="Project"):
    """``pulumi-python:dynamic/sentry:Project``; outputs project_slug, project_id."""

    project_slug: pulumi.Output[str]
    project_id: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        args: SentryProjectArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        provider: SentryProjectProvider | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "organization": args.organization,
            "team": args.team,
            "project_slug": args.project_slug,
            "project_name": args.project_name,
            "platform": args.platform,
            "api_base_url": args.api_base_url,
            "project_id": None,
        }
        super().__init__(provider or SentryProjectProvider(), resource_name, props, opts)


@dataclass(frozen=True)
class SentryClientKeyArgs:
    organization: pulumi.Input[str]
    project_slug: pulumi.Input[str]
    key_name: pulumi.Input[str]
    rate_limit_count: int
    rate_limit_window_seconds: int
    api_base_url: str = SENTRY_API_BASE_URL


class SentryClientKey(dyn.Resource, module="sentry", name="ClientKey"):
    """``pulumi-python:dynamic/sentry:ClientKey``; outputs key_id and dsn (secret)."""

    key_id: pulumi.Output[str]
    dsn: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        args: SentryClientKeyArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        provider: SentryClientKeyProvider | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "organization": args.organization,
            "project_slug": args.project_slug,
            "key_name": args.key_name,
            "rate_limit_count": args.rate_limit_count,
            "rate_limit_window_seconds": args.rate_limit_window_seconds,
            "api_base_url": args.api_base_url,
            "key_id": None,
            "dsn": None,
        }
        options = with_secret_outputs(opts, ["dsn"])
        super().__init__(provider or SentryClientKeyProvider(), resource_name, props, options)
