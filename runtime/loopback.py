"""Does a string point at the local machine? One detector for the runtime validator and the policy pack.

``find_loopback(value)`` returns the first host in ``value`` that is the local machine (or None): the
``localhost`` names, 127.0.0.0/8 in every notation ``inet_aton`` accepts, ``::1`` and IPv4-mapped forms,
the unspecified addresses, Unix sockets (host-less Postgres URLs, ``host=/path``). It finds hosts in URLs of
any scheme (multi-host, ``?host=``), libpq ``key=value`` strings, ``host:port`` and lists, after
percent-decoding. Only hosts are judged, never user names, passwords, paths or database names.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import parse_qsl, unquote

LOOPBACK_NAMES = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "localhost4",
        "localhost4.localdomain4",
        "localhost6",
        "localhost6.localdomain6",
        "ip6-localhost",
        "ip6-loopback",
        "loopback",
    }
)
# Cheap pre-filter: a string with none of these cannot name the local machine.
_HINT = re.compile(r"localhost|loopback|127|::|0x|0\.0|\d{8,}|0[0-7]|host\s*=\s*/|:///|@/|\d", re.IGNORECASE)
_URL = re.compile(r"(?P<scheme>[a-z][a-z0-9+.\-]*)://(?P<rest>[^\s\"'<>`;]*)", re.IGNORECASE)
_LIBPQ_HOST = re.compile(r"(?<![\w.])(?P<key>host|hostaddr)\s*=\s*(?P<val>'(?:[^'\\]|\\.)*'|[^\s,;]+)", re.I)
_POSTGRES_SCHEMES = frozenset({"postgres", "postgresql"})
_TOKEN_SPLIT = re.compile(r"[\s,;\"'()\[\]{}<>|]+")


def find_loopback(value: str) -> str | None:
    """The first host in ``value`` that points at the local machine, or None."""
    if not value or not _HINT.search(value):
        return None
    text = _decode(value)
    for host in _candidate_hosts(text):
        if is_loopback_host(host):
            return host
    return None


def is_loopback_host(host: str) -> bool:
    """Is this single host (name, IPv4 in any inet_aton notation, IPv6, socket path) the local machine?"""
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or host.startswith("/"):
        return host.startswith("/")  # a Unix-socket directory is the local machine
    name = host.rstrip(".").lower()
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    return _is_loopback_address(name.split("%", 1)[0])


def _is_loopback_address(text: str) -> bool:
    if ":" in text:
        try:
            address = ipaddress.IPv6Address(text)
        except ValueError:
            return False
        mapped = address.ipv4_mapped or _ipv4_compatible(address)
        if mapped is not None:
            return mapped.is_loopback or mapped.is_unspecified
        return address.is_loopback or address.is_unspecified
    if not re.fullmatch(r"[0-9a-fx.]+", text) or not any(ch.isdigit() for ch in text):
        return False
    try:
        address4 = ipaddress.IPv4Address(socket.inet_aton(text))
    except (OSError, ValueError):
        return False
    return address4.is_loopback or address4.is_unspecified


def _ipv4_compatible(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    # Deprecated ::a.b.c.d form: top 96 bits zero (but not :: or ::1 themselves).
    packed = int(address)
    if packed >> 32 == 0 and packed > 1:
        return ipaddress.IPv4Address(packed & 0xFFFFFFFF)
    return None


def _decode(value: str) -> str:
    # Percent-encoding may be nested (%256c): decode a bounded number of times.
    for _ in range(3):
        decoded = unquote(value)
        if decoded == value:
            break
        value = decoded
    return value


def _candidate_hosts(text: str) -> list[str]:
    hosts: list[str] = []
    for match in _URL.finditer(text):
        hosts.extend(_url_hosts(match.group("scheme").lower(), match.group("rest")))
    without_urls = _URL.sub(" ", text)
    for match in _LIBPQ_HOST.finditer(without_urls):
        raw = match.group("val").strip("'")
        hosts.extend(part for part in raw.split(",") if part or match.group("key") == "host")
    bare = _LIBPQ_HOST.sub(" ", without_urls)
    for token in _TOKEN_SPLIT.split(bare):
        if token and "=" not in token and not _is_not_a_bare_host(token):
            hosts.append(_strip_port(token))
    return hosts


def _is_not_a_bare_host(token: str) -> bool:
    # A bare path ("/aws/lambda/x1") is a socket only where a host goes (host=, ?host=, host-less URL), and a
    # short number like "0.0" is a sample rate, not 0.0.0.0; "0.0.0.0" and 127/8 spellings still count.
    if token.startswith("/"):
        return True
    if re.fullmatch(r"[0-9.]+", token) and token.count(".") < 3:
        try:
            return not ipaddress.IPv4Address(socket.inet_aton(token)).is_loopback
        except (OSError, ValueError):
            return True
    return _is_bare_small_number(token)


def _is_bare_small_number(token: str) -> bool:
    # Outside a URL or host=, a plain number like "0" is a count, not an address; a decimal-notation
    # address in 127.0.0.0/8 (2130706432 and up) still counts.
    return token.isdigit() and int(token) < 0x7F000000


def _url_hosts(scheme: str, rest: str) -> list[str]:
    authority, _, tail = _split_authority(rest)
    netloc = authority.rsplit("@", 1)[-1]
    hosts = [_strip_port(part) for part in _split_hosts(netloc)]
    query = tail.split("?", 1)[1] if "?" in tail else ""
    query_hosts = [
        part
        for key, val in parse_qsl(query.split("#", 1)[0])
        if key in {"host", "hostaddr"}
        for part in val.split(",")
    ]
    hosts.extend(query_hosts)
    if scheme in _POSTGRES_SCHEMES and not netloc.strip() and not query_hosts:
        hosts.append("/")  # libpq: no host means the default Unix socket
    return hosts


def _split_authority(rest: str) -> tuple[str, str, str]:
    end = len(rest)
    for sep in "/?#;":
        index = rest.find(sep)
        if index != -1:
            end = min(end, index)
    return rest[:end], "", rest[end:]


def _split_hosts(netloc: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current = ""
    for char in netloc:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _strip_port(host: str) -> str:
    host = host.strip()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host
