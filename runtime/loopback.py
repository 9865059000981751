"""Does a string point at the local machine? One detector for the runtime validator and the policy pack.

``find_loopback(value)`` returns the first host in ``value`` that is the local machine (or None): the
``localhost`` names, 127.0.0.0/8 in every notation ``inet_aton`` accepts, ``::1`` and IPv4-mapped forms, the
unspecified addresses, Unix sockets. It reads a value the way the clients that will use it do:

* URLs (any scheme): the host is what follows the **last** ``@`` of the authority (urllib3, sentry-sdk and
  ``urlsplit`` read it so), whatever the userinfo holds (``;``, quotes, percent-escapes); the host itself is
  percent-decoded; several hosts may share the authority (``host1,host2``, libpq);
* libpq (``postgres[ql]://``): an empty host — ``@:5432``, ``@,db``, ``postgresql:///db`` — is the default
  Unix socket, and ``?host=`` / ``?hostaddr=`` (empty: the socket) count; ``host=`` / ``hostaddr=`` in
  ``key=value`` strings, quoted or not, comma-separated;
* hosts are folded as IDNA does (NFKC, case folding, ignorable characters such as the soft hyphen and the
  zero-width space dropped, the ideographic full stop read as ``.``);
* a value may be a list: URLs separated by ``,`` ``;`` ``|`` or whitespace are read one by one.

**Host-position discipline.** Inside a host position (URL authority, ``host=``) every spelling counts. A bare
word elsewhere counts only when it is a recognisable host: a loopback name, a dotted 127/8 or 0.0.0.0
address, an IPv6 loopback form, or 127.0.0.1 as one integer (``2130706433``, ``0x7f000001``). So times
(``00:00``), counts, int/hex constants (``0x7fffffff``, ``2147483647``), phone numbers, sample rates, paths
and anything in a URL's path or query (``https://example.com/a%20localhost``) are not hosts.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import stringprep
import unicodedata
from collections.abc import Generator, Iterator
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
MAX_DECODE_DEPTH = 3  # percent-encoding nested deeper than %2525… is not worth following
_LOCAL_ADDRESS_AS_INTEGER = 0x7F000001  # the one 127/8 address people write as a single number
_POSTGRES_SCHEMES = frozenset({"postgres", "postgresql"})
_LIBPQ_HOST_PARAMS = frozenset({"host", "hostaddr"})
# Cheap pre-filter: a (folded) string with none of these cannot name the local machine.
_HINT = re.compile(r"[\d%\[]|localhost|loopback|::|//[,:/?]?|host\s*=|@[,:/?]", re.IGNORECASE)
# A URL starts at a scheme; a list of URLs is split before each scheme that follows a separator.
_SCHEME = re.compile(r"(?<![\w+.\-])(?P<scheme>[a-z][a-z0-9+.\-]{0,30})://", re.IGNORECASE)
_LIST_SEPARATORS = ",;|"
_LIBPQ_HOST = re.compile(
    r"(?<![\w.\-])(?P<key>host|hostaddr)\s*=\s*(?P<val>'(?:[^'\\]|\\.)*'|[^\s']*)", re.IGNORECASE
)
# Characters that end a host: they cannot be part of a name, an address or a port.
_HOST_END = re.compile(r"[\s\"'<>`{}()|\\;^]")
_TOKEN_SPLIT = re.compile(r"[\s,;\"'()\[\]{}<>|`]+")
_DOTTED_NUMBERS = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}", re.IGNORECASE)
# Full stops IDNA treats as label separators (NFKC maps the fullwidth and halfwidth ones to U+3002 or '.').
_FULL_STOPS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


def find_loopback(value: str) -> str | None:
    """The first host in ``value`` that points at the local machine, or None."""
    if not value:
        return None
    text = fold(value)
    if not _HINT.search(text):
        return None
    for host in _hosts_in(text, depth=0):
        if is_loopback_host(host):
            return host
    return None


def is_loopback_host(host: str) -> bool:
    """Is this single host (name, IPv4 in any inet_aton notation, IPv6, socket path) the local machine?"""
    host = fold(host).strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or host.startswith("/"):
        return host.startswith("/")  # a Unix-socket directory is the local machine
    name = host.rstrip(".").casefold()
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    return _is_loopback_address(name.split("%", 1)[0])


def fold(text: str) -> str:
    """``text`` as IDNA reads a host: ignorable characters dropped, NFKC, every full stop a ``.``."""
    if text.isascii():
        return text
    kept = "".join(char for char in text if not stringprep.in_table_b1(char))
    return unicodedata.normalize("NFKC", kept).translate(_FULL_STOPS)


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
    address4 = _inet_aton(text)
    return address4 is not None and (address4.is_loopback or address4.is_unspecified)


def _inet_aton(text: str) -> ipaddress.IPv4Address | None:
    """The address ``inet_aton`` (what getaddrinfo falls back to) reads in ``text``, if any."""
    if not _DOTTED_NUMBERS.fullmatch(text):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except (OSError, ValueError):
        return None


def _ipv4_compatible(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    # Deprecated ::a.b.c.d form: top 96 bits zero (but not :: or ::1 themselves).
    packed = int(address)
    if packed >> 32 == 0 and packed > 1:
        return ipaddress.IPv4Address(packed & 0xFFFFFFFF)
    return None


# --- reading a value -------------------------------------------------------------------------------------


def _hosts_in(text: str, depth: int) -> Iterator[str]:
    """Every host ``text`` names: in URLs, in libpq ``host=`` pairs, and as bare words."""
    rest: list[str] = []
    position = 0
    for start, end in _url_spans(text):
        rest.append(text[position:start])
        remainder = yield from _url_hosts(text[start:end])
        rest.append(" " + remainder)
        position = end
    rest.append(text[position:])
    outside_urls = " ".join(rest)
    bare_text = outside_urls
    for match in _LIBPQ_HOST.finditer(outside_urls):
        yield from _libpq_hosts(match.group("key"), match.group("val"))
    if "=" in outside_urls:
        bare_text = _LIBPQ_HOST.sub(" ", outside_urls)
    for token in _TOKEN_SPLIT.split(bare_text):
        if token:
            yield from _bare_hosts(token, depth)


def _url_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each URL: from its scheme to whitespace, or to the next URL after a list separator."""
    starts = [match.start() for match in _SCHEME.finditer(text)]
    spans: list[tuple[int, int]] = []
    for index, start in enumerate(starts):
        if spans and start < spans[-1][1]:
            continue  # inside the previous URL (e.g. a redirect target in its query): not a host
        end = start
        while end < len(text) and not text[end].isspace():
            end += 1
        for following in starts[index + 1 :]:
            if following >= end:
                break
            if text[following - 1] in _LIST_SEPARATORS:
                end = following - 1
                break
        spans.append((start, end))
    return spans


def _url_hosts(url: str) -> Generator[str, None, str]:
    """The hosts of one URL as its client reads them; returns what follows the host when that is not part
    of the URL (``https://a.example.com;127.0.0.1``: the second host is a list item)."""
    match = _SCHEME.match(url)
    assert match is not None
    scheme = match.group("scheme").lower()
    rest = url[match.end() :]
    cut = min((i for i in (rest.find(sep) for sep in "/?#") if i != -1), default=len(rest))
    authority, tail = rest[:cut], rest[cut:]
    hostport = authority.rpartition("@")[2]
    end = _HOST_END.search(hostport)
    remainder = ""
    if end is not None:
        hostport, remainder = hostport[: end.start()], hostport[end.start() :]
        tail = ""  # the URL ended with the host (a quote, a list separator...): no query of its own
    libpq = scheme in _POSTGRES_SCHEMES
    query_hosts: list[str] = []
    if libpq and "?" in tail:
        query = tail.split("?", 1)[1].split("#", 1)[0]
        for key, val in parse_qsl(query, keep_blank_values=True):
            if key.lower() in _LIBPQ_HOST_PARAMS:
                query_hosts += [part or "/" for part in val.split(",")] if key.lower() == "host" else [val]
    for part in _split_hosts(hostport):
        host = _decode(_strip_port(part))
        if host:
            yield host
        elif libpq and not query_hosts:
            yield "/"  # libpq: an empty host is the default Unix socket
    yield from query_hosts
    return remainder


def _libpq_hosts(key: str, raw: str) -> Iterator[str]:
    if raw.startswith("'"):
        raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
    for part in raw.split(","):
        part = part.strip()
        if part:
            yield _strip_port(part)
        elif key.lower() == "host":
            yield "/"  # an empty host is the default Unix socket


def _bare_hosts(token: str, depth: int) -> Iterator[str]:
    """A word outside any host position: a host only when it is recognisably one."""
    if "%" in token and depth < MAX_DECODE_DEPTH:
        decoded = unquote(token)
        if decoded != token:
            yield from _hosts_in(fold(decoded), depth + 1)  # an encoded URL, list or host: read it again
            return
    if "=" in token or token.startswith("/"):
        return  # another key's value, or a path
    host = _strip_port(token.rpartition("@")[2])
    if _is_recognisable_host(host):
        yield host


def _is_recognisable_host(host: str) -> bool:
    name = host.rstrip(".").casefold()
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    if ":" in name:
        return True  # an IPv6 spelling: "00:00" or "10:30:00" does not parse as one
    address = _inet_aton(name)
    if address is None:
        return False
    if "." not in name:
        return int(address) == _LOCAL_ADDRESS_AS_INTEGER  # 2130706433 or 0x7f000001, not any integer
    # "0.0" or "1.5" is a number and "0.0.0" a version; "127.1" or "0177.0.1" is an address.
    return address.is_loopback or name.count(".") == 3


def _decode(host: str) -> str:
    for _ in range(MAX_DECODE_DEPTH):
        decoded = unquote(host)
        if decoded == host:
            break
        host = decoded
    return fold(host)


def _split_hosts(netloc: str) -> list[str]:
    """``host1,host2`` (commas inside ``[…]`` belong to an IPv6 address)."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in netloc:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        if char == "," and depth <= 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _strip_port(host: str) -> str:
    host = host.strip()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    name, colon, _port = host.rpartition(":")
    return name if colon and ":" not in name else host
