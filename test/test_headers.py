"""HTTPHeaderMap and canonical_form: storage, lookup, splitting, comparison."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hyper.common.headers import NO_SPLIT_HEADERS, HTTPHeaderMap, canonical_form

# --- construction -------------------------------------------------------------


def test_pairs_keep_order_case_and_duplicates_as_bytes() -> None:
    m = HTTPHeaderMap([("Content-Type", b"text/html"), (b"X-Dup", "1"), ("x-dup", b"2, 3")])
    assert list(m.iter_raw()) == [
        (b"Content-Type", b"text/html"),
        (b"X-Dup", b"1"),
        (b"x-dup", b"2, 3"),
    ]


def test_mapping_argument_adds_each_item() -> None:
    # The old hyper unpacked each *key string* of a dict as a pair.
    m = HTTPHeaderMap({"Host": "example.com", b"Accept": b"*/*"})
    assert list(m.iter_raw()) == [(b"Host", b"example.com"), (b"Accept", b"*/*")]


def test_copying_a_map_keeps_raw_fields_and_is_independent() -> None:
    # The old hyper copied the split, lower-cased form.
    original = HTTPHeaderMap([("Accept", "a, b"), ("Set-Cookie", "x=1")])
    copy = HTTPHeaderMap(original)
    assert list(copy.iter_raw()) == [(b"Accept", b"a, b"), (b"Set-Cookie", b"x=1")]
    copy["Accept"] = "c"
    assert original["accept"] == [b"a", b"b"]


def test_args_then_kwargs_in_order() -> None:
    m = HTTPHeaderMap([("a", "1")], {"b": "2"}, c="3", content_type="x")
    assert list(m.iter_raw()) == [(b"a", b"1"), (b"b", b"2"), (b"c", b"3"), (b"content_type", b"x")]


def test_no_arguments_is_empty() -> None:
    m = HTTPHeaderMap()
    assert len(m) == 0
    assert list(m) == []
    assert "a" not in m


def test_non_ascii_str_is_encoded_as_utf8() -> None:
    m = HTTPHeaderMap([("X-Naïve", "café ☕")])
    assert list(m.iter_raw()) == [("X-Naïve".encode(), "café ☕".encode())]
    assert m["x-naïve"] == ["café ☕".encode()]
    assert m[b"X-NA\xc3\xafVE"] == [b"caf\xc3\xa9 \xe2\x98\x95"]


def test_case_folding_is_ascii_only() -> None:
    m = HTTPHeaderMap([("X-Ä", "1")])
    assert "x-Ä" in m
    assert "x-ä" not in m


BAD_CONSTRUCTIONS: list[tuple[tuple[Any, ...], dict[str, Any], type[Exception]]] = [
    (([("a", 1)],), {}, ValueError),
    (([(None, "v")],), {}, ValueError),
    (([("a", bytearray(b"v"))],), {}, ValueError),
    (([(b"a", memoryview(b"v"))],), {}, ValueError),
    (([("a", "\udcff")],), {}, ValueError),
    (([("\ud800", "v")],), {}, ValueError),
    (([("a", "b", "c")],), {}, ValueError),
    (([("a",)],), {}, ValueError),
    ((["ab"],), {}, ValueError),
    (([b"ab"],), {}, ValueError),
    (([5],), {}, ValueError),
    (({"a": ["1", "2"]},), {}, ValueError),
    (({1: "v"},), {}, ValueError),
    ((5,), {}, TypeError),
    (("ab",), {}, TypeError),
    ((b"ab",), {}, TypeError),
    ((None,), {}, TypeError),
    ((), {"a": 1}, ValueError),
    ((), {"a": None}, ValueError),
]


@pytest.mark.parametrize(("args", "kwargs", "error"), BAD_CONSTRUCTIONS)
def test_bad_input_is_rejected(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        HTTPHeaderMap(*args, **kwargs)


def test_rejection_names_the_problem() -> None:
    with pytest.raises(ValueError, match=r"header value must be str or bytes, not int"):
        HTTPHeaderMap([("a", 1)])
    with pytest.raises(ValueError, match=r"argument 1 item 0 has 3 elements"):
        HTTPHeaderMap([], [("a", "b", "c")])
    with pytest.raises(TypeError, match=r"argument 0 must be a mapping or an iterable"):
        HTTPHeaderMap(5)


# --- lookup, appending, deleting ---------------------------------------------


@pytest.mark.parametrize("key", ["content-type", "Content-Type", b"CONTENT-TYPE", b"cOnTeNt-TyPe"])
def test_lookup_is_case_insensitive(key: str | bytes) -> None:
    m = HTTPHeaderMap([("Content-Type", "text/plain")])
    assert key in m
    assert m[key] == [b"text/plain"]
    assert m.get(key) == [b"text/plain"]


def test_setitem_appends_and_keeps_each_fields_case() -> None:
    m = HTTPHeaderMap()
    m["Accept"] = "a"
    m[b"ACCEPT"] = b"b"
    m["accept"] = "c, d"
    assert m["accept"] == [b"a", b"b", b"c", b"d"]
    assert list(m.iter_raw()) == [(b"Accept", b"a"), (b"ACCEPT", b"b"), (b"accept", b"c, d")]


def test_values_of_one_name_interleaved_with_others_keep_order() -> None:
    m = HTTPHeaderMap([("a", "1"), ("b", "x"), ("A", "2"), ("b", "y"), ("a", "3")])
    assert m["a"] == [b"1", b"2", b"3"]
    assert m["b"] == [b"x", b"y"]


def test_missing_key() -> None:
    m = HTTPHeaderMap([("a", "1")])
    with pytest.raises(KeyError):
        m["b"]
    assert "b" not in m
    assert m.get("b") is None
    sentinel = object()
    assert m.get(b"B", sentinel) is sentinel


def test_delitem_removes_every_occurrence_and_keeps_the_rest() -> None:
    m = HTTPHeaderMap([("A", "1"), ("b", "2"), ("a", "3"), ("c", "4"), (b"a", b"5")])
    del m["a"]
    assert "a" not in m
    assert list(m.iter_raw()) == [(b"b", b"2"), (b"c", b"4")]
    with pytest.raises(KeyError):
        del m["a"]
    assert list(m.iter_raw()) == [(b"b", b"2"), (b"c", b"4")]


@pytest.mark.parametrize("bad_key", [1, None, 1.5, bytearray(b"a"), ("a",)])
def test_bad_key_types_are_rejected_everywhere(bad_key: Any) -> None:
    m = HTTPHeaderMap([("a", "1")])
    for operation in (
        lambda: m[bad_key],
        lambda: bad_key in m,
        lambda: m.get(bad_key),
        lambda: m.__delitem__(bad_key),
        lambda: m.__setitem__(bad_key, "v"),
        lambda: m.replace(bad_key, "v"),
    ):
        with pytest.raises(ValueError):
            operation()
    assert list(m.iter_raw()) == [(b"a", b"1")]


@pytest.mark.parametrize("bad_value", [1, None, object(), bytearray(b"x"), ["x"]])
def test_bad_value_types_are_rejected(bad_value: Any) -> None:
    m = HTTPHeaderMap([("a", "1")])
    with pytest.raises(ValueError):
        m["a"] = bad_value
    with pytest.raises(ValueError):
        m.replace("a", bad_value)
    assert list(m.iter_raw()) == [(b"a", b"1")]


# --- splitting ----------------------------------------------------------------

SPLITS: list[tuple[bytes, list[bytes]]] = [
    (b"a", [b"a"]),
    (b"a,b", [b"a", b"b"]),
    (b"a, b", [b"a", b"b"]),
    (b" a ,\tb\t ", [b"a", b"b"]),
    (b"  lone  ", [b"lone"]),
    (b"a,,b", [b"a", b"b"]),
    (b", a ,", [b"a"]),
    (b"a, ,\t, b", [b"a", b"b"]),
    (b"", [b""]),
    (b"  \t ", [b""]),
    (b",", [b""]),
    (b" , ,\t, ", [b""]),
    (b'a="x, y", b', [b'a="x, y"', b"b"]),
    (b'"x","y"', [b'"x"', b'"y"']),
    (b'"a, b"', [b'"a, b"']),
    (b'a="x\\", y", b', [b'a="x\\", y"', b"b"]),
    (b'a="x\\\\", b', [b'a="x\\\\"', b"b"]),
    (b'"unterminated, x', [b'"unterminated, x']),
    (b'a, "unterminated, x', [b"a", b'"unterminated, x']),
    (b"a\\, b", [b"a\\", b"b"]),
    (b"text/html;q=0.9, */*;q=0.8", [b"text/html;q=0.9", b"*/*;q=0.8"]),
    (b"\x0ba\x0b,\rb", [b"\x0ba\x0b", b"\rb"]),
    (b"caf\xc3\xa9, \xe2\x98\x95", [b"caf\xc3\xa9", b"\xe2\x98\x95"]),
]


@pytest.mark.parametrize(("value", "expected"), SPLITS)
def test_canonical_form_splits(value: bytes, expected: list[bytes]) -> None:
    assert list(canonical_form(value)) == expected


@pytest.mark.parametrize(("value", "expected"), SPLITS)
def test_map_splits_ordinary_fields(value: bytes, expected: list[bytes]) -> None:
    m = HTTPHeaderMap([("X-List", value)])
    assert m["x-list"] == expected
    assert list(m) == [(b"x-list", item) for item in expected]
    assert len(m) == len(expected)
    assert list(m.iter_raw()) == [(b"X-List", value)]


def test_canonical_form_is_an_iterator() -> None:
    items = canonical_form(b"a, b")
    assert next(items) == b"a"
    assert list(items) == [b"b"]


@pytest.mark.parametrize("bad", ["a, b", bytearray(b"a"), None, 1])
def test_canonical_form_requires_bytes(bad: Any) -> None:
    with pytest.raises(TypeError, match="value must be bytes"):
        canonical_form(bad)


DATE = b"Sun, 06 Nov 1994 08:49:37 GMT"
COOKIE = b"id=a3fWa; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Secure, HttpOnly"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Date", DATE),
        ("Expires", DATE),
        ("Last-Modified", DATE),
        ("If-Modified-Since", DATE),
        ("If-Unmodified-Since", DATE),
        ("If-Range", DATE),
        ("Retry-After", DATE),
        ("Set-Cookie", COOKIE),
        ("SET-COOKIE", COOKIE),
        ("Set-Cookie2", b'a="b, c"; Version="1", d=e'),
        ("WWW-Authenticate", b'Basic realm="x", charset="UTF-8"'),
        ("Proxy-Authenticate", b'Digest realm="p", qop="auth, auth-int", nonce="n"'),
        ("User-Agent", b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"),
        ("Server", b"Apache/2.4.1 (Unix, built by me)"),
    ],
)
def test_no_split_fields_stay_whole(name: str, value: bytes) -> None:
    m = HTTPHeaderMap([(name, value)])
    assert m[name] == [value]
    assert len(m) == 1
    assert list(m) == [(name.lower().encode(), value)]


def test_every_no_split_name_is_honoured() -> None:
    value = b" a, b,, c "
    for name in sorted(NO_SPLIT_HEADERS):
        m = HTTPHeaderMap([(name.upper(), value)])
        assert m[name] == [b"a, b,, c"], name


def test_no_split_set_is_lowercase_bytes() -> None:
    assert isinstance(NO_SPLIT_HEADERS, frozenset)
    assert all(isinstance(name, bytes) and name == name.lower() for name in NO_SPLIT_HEADERS)
    assert {b"set-cookie", b"date", b"www-authenticate"} <= NO_SPLIT_HEADERS


def test_repeated_set_cookie_fields_stay_separate_and_whole() -> None:
    m = HTTPHeaderMap([("Set-Cookie", COOKIE), ("set-cookie", "b=2; Path=/"), ("X", "1")])
    assert m["set-cookie"] == [COOKIE, b"b=2; Path=/"]
    assert len(m) == 3


def test_splitting_depends_on_the_name_not_the_value() -> None:
    m = HTTPHeaderMap([("X-Date", DATE)])
    assert m["x-date"] == [b"Sun", b"06 Nov 1994 08:49:37 GMT"]


# --- iteration and views --------------------------------------------------------


def make_sample() -> HTTPHeaderMap:
    return HTTPHeaderMap(
        [
            ("Accept", "a, b"),
            ("Date", DATE.decode()),
            ("X-Empty", ""),
            ("ACCEPT", b"c"),
        ]
    )


SAMPLE_CANONICAL = [
    (b"accept", b"a"),
    (b"accept", b"b"),
    (b"date", DATE),
    (b"x-empty", b""),
    (b"accept", b"c"),
]


def test_iteration_is_canonical_form() -> None:
    assert list(make_sample()) == SAMPLE_CANONICAL


def test_items_keys_values_follow_iteration() -> None:
    m = make_sample()
    assert list(m.items()) == SAMPLE_CANONICAL
    assert list(m.keys()) == [name for name, _ in SAMPLE_CANONICAL]
    assert list(m.values()) == [value for _, value in SAMPLE_CANONICAL]


def test_len_counts_split_values() -> None:
    m = make_sample()
    assert len(m) == len(SAMPLE_CANONICAL)
    m["accept"] = "d,e"
    assert len(m) == len(SAMPLE_CANONICAL) + 2


def test_empty_field_is_present_and_visible() -> None:
    m = make_sample()
    assert "x-empty" in m
    assert m["x-empty"] == [b""]


def test_iter_raw_keeps_everything_as_given() -> None:
    assert list(make_sample().iter_raw()) == [
        (b"Accept", b"a, b"),
        (b"Date", DATE),
        (b"X-Empty", b""),
        (b"ACCEPT", b"c"),
    ]


def test_dict_of_a_map_groups_values_by_name() -> None:
    assert dict(make_sample()) == {
        b"accept": [b"a", b"b", b"c"],
        b"date": [DATE],
        b"x-empty": [b""],
    }


# --- replace and merge ------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "key", "value", "after"),
    [
        ([], "a", "1", [(b"a", b"1")]),
        ([("b", "2")], "A", "1", [(b"b", b"2"), (b"A", b"1")]),
        ([("a", "0"), ("b", "2")], "a", "1", [(b"a", b"1"), (b"b", b"2")]),
        ([("b", "2"), ("a", "0")], b"A", b"1", [(b"b", b"2"), (b"A", b"1")]),
        (
            [("x", "9"), ("Set-Cookie", "a=1"), ("y", "8"), ("SET-COOKIE", "b=2"), ("z", "7")],
            "set-cookie",
            "c=3",
            [(b"x", b"9"), (b"set-cookie", b"c=3"), (b"y", b"8"), (b"z", b"7")],
        ),
    ],
)
def test_replace(
    before: list[tuple[str, str]],
    key: str | bytes,
    value: str | bytes,
    after: list[tuple[bytes, bytes]],
) -> None:
    m = HTTPHeaderMap(before)
    m.replace(key, value)
    assert list(m.iter_raw()) == after


def test_merge_another_map_adds_raw_fields() -> None:
    m = HTTPHeaderMap([("a", "1")])
    m.merge(HTTPHeaderMap([("B", "x, y"), ("A", "2")]))
    assert list(m.iter_raw()) == [(b"a", b"1"), (b"B", b"x, y"), (b"A", b"2")]
    assert m["a"] == [b"1", b"2"]


@pytest.mark.parametrize(
    "other",
    [{"B": "2", b"c": b"3"}, [("B", "2"), (b"c", b"3")], (("B", b"2"), [b"c", "3"])],
)
def test_merge_mapping_or_pairs(other: Any) -> None:
    m = HTTPHeaderMap([("a", "1")])
    m.merge(other)
    assert list(m.iter_raw()) == [(b"a", b"1"), (b"B", b"2"), (b"c", b"3")]


def test_merge_with_itself_doubles() -> None:
    m = HTTPHeaderMap([("a", "1"), ("b", "2")])
    m.merge(m)
    assert list(m.iter_raw()) == [(b"a", b"1"), (b"b", b"2")] * 2


@pytest.mark.parametrize(
    ("other", "error"),
    [([("ok", "1"), ("bad", 2)], ValueError), ([("ok", "1"), "xy"], ValueError), (7, TypeError)],
)
def test_failed_merge_adds_nothing(other: Any, error: type[Exception]) -> None:
    m = HTTPHeaderMap([("a", "1")])
    with pytest.raises(error):
        m.merge(other)
    assert list(m.iter_raw()) == [(b"a", b"1")]


# --- equality, hashing, repr --------------------------------------------------------

BASE = [("Content-Type", "text/html"), ("Accept", "a, b")]


@pytest.mark.parametrize(
    ("other", "equal"),
    [
        (HTTPHeaderMap(BASE), True),
        (HTTPHeaderMap([(b"content-type", b"text/html"), (b"ACCEPT", b"a, b")]), True),
        (BASE, True),
        (tuple(BASE), True),
        ([(b"CONTENT-TYPE", "text/html"), ("accept", b"a, b")], True),
        ({"content-type": "text/html", "accept": "a, b"}, True),
        (HTTPHeaderMap([("Content-Type", "TEXT/HTML"), ("Accept", "a, b")]), False),
        (HTTPHeaderMap([("Accept", "a, b"), ("Content-Type", "text/html")]), False),
        (HTTPHeaderMap([("Content-Type", "text/html"), ("Accept", "a"), ("Accept", "b")]), False),
        (HTTPHeaderMap([("Content-Type", "text/html"), ("Accept", "a,b")]), False),
        (HTTPHeaderMap([("Content-Type", "text/html")]), False),
        (HTTPHeaderMap(), False),
        ({"accept": "a, b", "content-type": "text/html"}, False),
        ([("Content-Type", "text/html"), ("Accept", 1)], False),
        ([("Content-Type", "text/html"), "ab"], False),
        ("Content-Type", False),
        (b"", False),
        (None, False),
        (3, False),
        (object(), False),
    ],
)
def test_equality(other: Any, equal: bool) -> None:
    m = HTTPHeaderMap(BASE)
    assert (m == other) is equal
    assert (m != other) is not equal
    assert (other == m) is equal
    assert (other != m) is not equal


def test_empty_maps_equal_empty_containers() -> None:
    assert HTTPHeaderMap() == HTTPHeaderMap()
    assert HTTPHeaderMap() == []
    assert HTTPHeaderMap() == {}
    assert HTTPHeaderMap() != [("a", "b")]


def test_not_hashable() -> None:
    with pytest.raises(TypeError):
        hash(HTTPHeaderMap())


def test_repr_shows_raw_fields() -> None:
    m = HTTPHeaderMap([("Host", "example.com"), (b"accept", "a, b"), ("X", "é")])
    assert repr(m) == (
        "HTTPHeaderMap([(b'Host', b'example.com'), (b'accept', b'a, b'), (b'X', b'\\xc3\\xa9')])"
    )
    assert repr(HTTPHeaderMap()) == "HTTPHeaderMap([])"
    assert str(m) == repr(m)


# --- properties --------------------------------------------------------------------

names = st.one_of(
    st.binary(max_size=12),
    st.text(st.characters(codec="utf-8"), max_size=12),
    st.sampled_from(sorted(NO_SPLIT_HEADERS)).map(bytes.upper),
)
values = st.one_of(
    st.binary(max_size=30),
    st.text(st.characters(codec="utf-8"), max_size=30),
    st.lists(st.sampled_from(["a", "b", " ", "\t", ",", '"', "\\"]), max_size=20).map("".join),
)
pairs = st.lists(st.tuples(names, values), max_size=10)


def as_bytes(obj: str | bytes) -> bytes:
    return obj.encode("utf-8") if isinstance(obj, str) else obj


@given(pairs)
def test_iter_raw_round_trips_whatever_was_inserted(
    inserted: list[tuple[str | bytes, str | bytes]],
) -> None:
    expected = [(as_bytes(name), as_bytes(value)) for name, value in inserted]
    built = HTTPHeaderMap(inserted)
    appended = HTTPHeaderMap()
    for name, value in inserted:
        appended[name] = value
    assert list(built.iter_raw()) == expected
    assert list(appended.iter_raw()) == expected
    assert built == appended
    assert eval(repr(built), {"HTTPHeaderMap": HTTPHeaderMap}) == built


@given(pairs)
def test_len_equals_the_number_of_split_values(
    inserted: list[tuple[str | bytes, str | bytes]],
) -> None:
    m = HTTPHeaderMap(inserted)
    canonical = list(m)
    assert len(m) == len(canonical)
    per_name = {name: m[name] for name, _ in canonical}
    assert sum(len(found) for found in per_name.values()) == len(canonical)
    for name, found in per_name.items():
        assert found == [value for n, value in canonical if n == name]


@given(values.map(as_bytes))
def test_canonical_items_are_stripped_non_empty_and_stable(value: bytes) -> None:
    items = list(canonical_form(value))
    assert items
    if items != [b""]:
        assert all(item and item == item.strip(b" \t") for item in items)
    assert list(canonical_form(b", ".join(items))) == items
    if b'"' not in value:
        stripped = [part.strip(b" \t") for part in value.split(b",")]
        assert items == ([part for part in stripped if part] or [b""])
