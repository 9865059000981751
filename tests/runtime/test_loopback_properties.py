"""Property-based tests of the loopback detector: generated spellings of the local machine in every position a
client reads a host from are found; generated real hosts and harmless values around them are not."""

from __future__ import annotations

import ipaddress
from urllib.parse import quote

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from runtime.loopback import LOOPBACK_NAMES, find_loopback, is_loopback_host
from tests.hypothesis_profiles import examples

pytestmark = pytest.mark.timeout(120)

SCHEMES = ["http", "https", "postgres", "postgresql", "redis", "amqp", "wss", "git+ssh"]
# Userinfo may hold anything a client does not end the authority at: the host still follows the last '@'.
USERINFO_ALPHABET = "abcXYZ019-_.~!$&'()*+,;=:\"<>`\\^{}|%@"
PERCENT_ESCAPES = ["%2F", "%3F", "%23", "%20", "%3B", "%40", "%25", "%3A"]
SEPARATORS = [",", ";", "|", " ", "\t", "\n", ", ", " | "]


def _number(value: int, base: str) -> str:
    return {"dec": str(value), "oct": f"0{value:o}", "hex": f"0x{value:x}"}[base]


@st.composite
def ipv4_spellings(draw: st.DrawFn, network: int = 127) -> str:
    """An address of ``network``/8 in any notation ``inet_aton`` reads (1 to 4 parts, dec/oct/hex each)."""
    rest = draw(st.integers(0, 2**24 - 1))
    if network == 127 and draw(st.booleans()):
        rest = 1  # 127.0.0.1 itself, the most common spelling
    value = (network << 24) | rest
    parts_count = draw(st.integers(1, 4))
    octets = list(value.to_bytes(4, "big"))
    if parts_count == 4:
        parts = octets
    elif parts_count == 3:
        parts = [octets[0], octets[1], int.from_bytes(bytes(octets[2:]), "big")]
    elif parts_count == 2:
        parts = [octets[0], int.from_bytes(bytes(octets[1:]), "big")]
    else:
        parts = [value]
    bases = st.sampled_from(["dec", "oct", "hex"])
    return ".".join(_number(part, draw(bases)) for part in parts)


@st.composite
def ipv6_loopbacks(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["loopback", "unspecified", "mapped", "mapped-hex", "long"]))
    if kind == "loopback":
        return "::1"
    if kind == "unspecified":
        return "::"
    if kind == "long":
        return ":".join(draw(st.sampled_from(["0", "00", "0000"])) for _ in range(7)) + ":1"
    address = ipaddress.IPv4Address((127 << 24) | draw(st.integers(0, 2**24 - 1)))
    if kind == "mapped":
        return f"::ffff:{address}"
    packed = int(address)
    return f"::ffff:{packed >> 16:x}:{packed & 0xFFFF:x}"


@st.composite
def loopback_names(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(sorted(LOOPBACK_NAMES)))
    if draw(st.booleans()):
        name = draw(st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)) + ".localhost"
    name = "".join(c.upper() if draw(st.booleans()) else c for c in name)
    return name + ("." if draw(st.booleans()) else "")


def unicode_spelling(draw: st.DrawFn, host: str) -> str:
    """``host`` as a Unicode string IDNA folds back to it: fullwidth forms, ignorable characters, odd dots."""
    out: list[str] = []
    for char in host:
        choice = draw(st.integers(0, 9))
        if char.isascii() and char.isalnum() and choice < 3:
            out.append(chr(ord(char) + 0xFEE0))  # fullwidth
        elif char == "." and choice < 5:
            out.append(draw(st.sampled_from(["\u3002", "\uff0e", "\uff61"])))
        elif char == "s" and choice < 5:
            out.append("\u017f")  # long s
        elif char == "l" and choice < 5:
            out.append("\u217c")  # small roman numeral fifty
        else:
            out.append(char)
        if draw(st.integers(0, 9)) == 0:
            out.append(draw(st.sampled_from(["\u00ad", "\u200b", "\u2060", "\ufeff"])))
    return "".join(out)


@st.composite
def loopback_hosts(draw: st.DrawFn) -> str:
    """A host position's value: any loopback spelling (every notation counts where a host goes)."""
    return draw(st.one_of(loopback_names(), ipv4_spellings(), ipv6_loopbacks(), st.just("0.0.0.0")))


@st.composite
def userinfo(draw: st.DrawFn) -> str:
    pieces = st.one_of(st.sampled_from(list(USERINFO_ALPHABET)), st.sampled_from(PERCENT_ESCAPES))
    user = "".join(draw(st.lists(pieces, min_size=0, max_size=12)))
    return f"{user}@" if user or draw(st.booleans()) else ""


@st.composite
def urls_with_host(draw: st.DrawFn, host: str, scheme: str | None = None) -> str:
    scheme = scheme or draw(st.sampled_from(SCHEMES))
    shown = f"[{host}]" if ":" in host else host
    if ":" not in host and draw(st.integers(0, 3)) == 0:
        shown = "".join(quote(c, safe="") if draw(st.booleans()) else c for c in shown)  # percent-encoded
    port = f":{draw(st.integers(1, 65535))}" if draw(st.booleans()) else ""
    path = draw(st.sampled_from(["", "/", "/app", "/api/v1?x=1", "/42#frag"]))
    return f"{scheme}://{draw(userinfo())}{shown}{port}{path}"


@st.composite
def real_hosts(draw: st.DrawFn) -> str:
    labels = draw(st.lists(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,12}[a-z0-9])?", fullmatch=True), min_size=1))
    name = ".".join([*labels[:3], draw(st.sampled_from(["com", "io", "net", "tech", "dev", "org"]))])
    assume(not is_loopback_host(name))
    return name


@st.composite
def public_ipv4(draw: st.DrawFn) -> str:
    address = ipaddress.IPv4Address(draw(st.integers(1 << 24, 2**32 - 1)))
    assume(not address.is_loopback)
    return str(address)


# --- found ---------------------------------------------------------------------------------------------


@examples(400)
@given(st.data())
def test_a_loopback_host_is_found_in_any_url_whatever_the_userinfo(data: st.DataObject) -> None:
    host = data.draw(loopback_hosts())
    url = data.draw(urls_with_host(host))
    assert find_loopback(url) is not None, url


@examples(200)
@given(st.data())
def test_a_loopback_url_is_found_in_a_list_of_urls(data: st.DataObject) -> None:
    first = data.draw(urls_with_host(data.draw(real_hosts()), "https"))
    local = data.draw(urls_with_host(data.draw(loopback_hosts())))
    items = data.draw(st.permutations([first, local]))
    value = data.draw(st.sampled_from(SEPARATORS)).join(items)
    assert find_loopback(value) is not None, value


@examples(200)
@given(st.data())
def test_unicode_spellings_that_fold_to_loopback_are_found(data: st.DataObject) -> None:
    host = data.draw(st.one_of(loopback_names(), st.just("127.0.0.1")))
    spelled = unicode_spelling(data.draw, host)
    value = data.draw(st.sampled_from([spelled, f"http://{spelled}:8000/", f"host={spelled} dbname=app"]))
    assert find_loopback(value) is not None, ascii(value)


@examples(200)
@given(st.data())
def test_libpq_hosts_in_key_value_strings_and_empty_hosts_are_found(data: st.DataObject) -> None:
    host = data.draw(loopback_hosts())
    other = data.draw(real_hosts())
    shape = data.draw(st.sampled_from(["host={h} dbname=app", "dbname=app host = '{h}'", "host={o},{h}"]))
    assert find_loopback(shape.format(h=host, o=other)) is not None
    empty = data.draw(
        st.sampled_from(["postgresql://u:p@:5432/app", "postgresql://u:p@,{o}/app", "postgres://{o}/a?host="])
    )
    assert find_loopback(empty.format(o=other)) == "/"


@examples(200)
@given(st.one_of(loopback_names(), ipv4_spellings().filter(lambda s: "." in s), ipv6_loopbacks()))
def test_recognisable_loopback_words_are_found_outside_urls(word: str) -> None:
    assert find_loopback(f"upstream is {word} today") is not None


# --- not found ---------------------------------------------------------------------------------------


@examples(400)
@given(st.data())
def test_real_hosts_are_clean_whatever_loopback_text_sits_in_userinfo_path_or_query(
    data: st.DataObject,
) -> None:
    host = data.draw(st.one_of(real_hosts(), public_ipv4()))
    decoy = data.draw(st.sampled_from(["localhost", "127.0.0.1", "%5B::1%5D", "0.0.0.0", "a%20localhost"]))
    user = data.draw(st.sampled_from(["", f"{decoy}@", f"u:{decoy}@", f"{quote(decoy, safe='')}:pw@"]))
    tail = data.draw(
        st.sampled_from(["", f"/{decoy}", f"/x?next=http://{decoy}/", f"?redirect={decoy}", f"#{decoy}"])
    )
    scheme = data.draw(st.sampled_from(["https", "http", "redis", "postgresql"]))
    if scheme == "postgresql":
        tail = tail.replace("?", "?x=1&")  # libpq reads ?host=; other query keys are not hosts
    url = f"{scheme}://{user}{host}{tail}"
    assert find_loopback(url) is None, url


@examples(300)
@given(
    st.one_of(
        st.integers(0, 2**32 - 1).filter(lambda n: n != 0x7F000001).map(str),
        st.integers(0, 2**32 - 1).filter(lambda n: n != 0x7F000001).map(hex),
        st.builds("{:02d}:{:02d}".format, st.integers(0, 23), st.integers(0, 59)),
        st.builds("{}:{:02d}:{:02d}".format, st.integers(0, 99), st.integers(0, 59), st.integers(0, 59)),
        st.floats(0, 1, allow_nan=False).map(str),
        st.builds("{}.{}.{}".format, st.integers(0, 99), st.integers(0, 99), st.integers(0, 99)),
        st.dates().map(str),
        st.builds("/aws/lambda/{}".format, st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True)),
        real_hosts(),
        public_ipv4(),
    )
)
def test_numbers_times_versions_paths_and_real_hosts_are_not_hosts(value: str) -> None:
    assert find_loopback(value) is None
    assert find_loopback(f"retry after {value}, ratio {value}") is None


@examples(300)
@given(st.text(max_size=300))
def test_any_text_gives_an_answer_without_raising(text: str) -> None:
    found = find_loopback(text)
    assert found is None or isinstance(found, str)
