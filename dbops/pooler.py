"""The one rule that tells a direct PostgreSQL connection from one through a pooler.

Migrations refuse a pooled connection: under transaction pooling (Neon's pooler, the local PgBouncer) a
session is lent one transaction at a time, so the advisory lock that keeps two runs apart, ``SET``
commands and multi-transaction DDL work would land on server connections other clients then reuse.

How a pooler is recognised:

- **Neon hosts** (``*.neon.tech``): by name. Neon's pooled endpoints are ``<endpoint>-pooler.<region>…``;
  the direct ones have no ``-pooler`` suffix. (Neon's proxy answers the direct host too, so the probe below
  says nothing there.)
- **Any other host** (the local stage, a self-hosted PgBouncer): by the cancel key. A server announces its
  backend's process id at login (``BackendKeyData``); PgBouncer announces a key of its own, so the pid the
  client was told differs from ``pg_backend_pid()`` the server reports. A plain TCP proxy or port mapping
  (Docker ``-p 5433:5432``) passes the server's key through and is not mistaken for a pooler.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

import psycopg

NEON_DOMAIN: Final = ".neon.tech"
NEON_POOLER_SUFFIX: Final = "-pooler"


class PooledConnectionRefused(Exception):
    """The URL reaches PostgreSQL through a connection pooler; the message says why and what to use."""


def pooler_reason(host: str | None, *, announced_pid: int | None, server_pid: int | None) -> str | None:
    """Why a connection to ``host`` goes through a pooler, or None when it is direct.

    ``announced_pid`` is the backend pid the server sent at login (``conn.info.backend_pid``),
    ``server_pid`` what ``SELECT pg_backend_pid()`` returns on it; either may be None (not probed).
    """
    name = (host or "").lower().rstrip(".")
    if name.endswith(NEON_DOMAIN):
        first_label = name.split(".", 1)[0]
        if first_label.endswith(NEON_POOLER_SUFFIX):
            return "the host is a Neon pooler endpoint (-pooler): use the branch's direct (unpooled) URL"
        return None
    if announced_pid is not None and server_pid is not None and announced_pid != server_pid:
        return (
            "a connection pooler (e.g. PgBouncer) answers on this URL: the backend id it announced is not "
            "the server's; use the direct PostgreSQL URL"
        )
    return None


def refuse_pooled(conn: psycopg.Connection[object], url: str) -> None:
    """Raise :class:`PooledConnectionRefused` when ``conn`` (opened from ``url``) goes through a pooler."""
    host = urlsplit(url).hostname or conn.info.host
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    server_pid = int(row[0]) if row is not None else None  # type: ignore[index]
    reason = pooler_reason(host, announced_pid=conn.info.backend_pid, server_pid=server_pid)
    if reason is not None:
        raise PooledConnectionRefused(f"refusing to migrate through a pooler: {reason}")
