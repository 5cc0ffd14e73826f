"""The header collection shared by HTTP/1.1 and HTTP/2 requests and responses.

:class:`HTTPHeaderMap` keeps every header field exactly as it was given (raw
``(name, value)`` byte pairs, original case, original order, duplicates kept),
so what a server sent can always be rebuilt with :meth:`HTTPHeaderMap.iter_raw`,
while lookups by name are case-insensitive and see each field in *canonical
form*: the value split into list items. Splitting follows RFC 9110 section 5.6.1:
a value is cut at commas that are not inside a quoted string (``"..."``, where
a backslash escapes the next byte), optional whitespace (spaces and tabs) around
each item is removed, and empty items are dropped; a field with no non-empty
item still shows up once, as ``b""``, so every field present can be seen. The
fields named in :data:`NO_SPLIT_HEADERS` are never split, because a comma is
part of their grammar rather than a list separator (an HTTP-date such as
``Sun, 06 Nov 1994 08:49:37 GMT``, a ``Set-Cookie`` with an ``Expires``
attribute, an authentication challenge with parameters, a product comment such
as ``(KHTML, like Gecko)``): their value is only stripped of surrounding
whitespace.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TypeAlias, TypeVar, overload

__all__ = ["NO_SPLIT_HEADERS", "HTTPHeaderMap", "HeaderSource", "canonical_form"]

#: Lower-case names of the fields whose values are never split on commas.
#: ``set-cookie``/``set-cookie2`` cannot be folded (RFC 6265 section 3); the
#: date fields hold an HTTP-date (``if-range`` and ``retry-after`` may);
#: the ``*-authenticate`` challenges separate their parameters with commas;
#: ``user-agent`` and ``server`` may carry comments containing commas.
NO_SPLIT_HEADERS: frozenset[bytes] = frozenset(
    {
        b"set-cookie",
        b"set-cookie2",
        b"date",
        b"expires",
        b"last-modified",
        b"if-modified-since",
        b"if-unmodified-since",
        b"if-range",
        b"retry-after",
        b"www-authenticate",
        b"proxy-authenticate",
        b"user-agent",
        b"server",
    }
)

# Optional whitespace (RFC 9110 section 5.6.3): only space and horizontal tab.
_OWS = b" \t"
_COMMA = ord(",")
_DQUOTE = ord('"')
_BACKSLASH = ord("\\")

# One stored field: (lower-cased name, name as given, value as given). The
# lower-cased name is computed once on insertion so lookups only compare bytes.
_Field: TypeAlias = tuple[bytes, bytes, bytes]

_T = TypeVar("_T")


def canonical_form(value: bytes) -> Iterator[bytes]:
    """Split one header value into its list items (see the module docs).

    Commas inside quoted strings do not split, whitespace around items is
    stripped and empty items are dropped; a value with no non-empty item yields
    a single ``b""``. This helper always splits: the :data:`NO_SPLIT_HEADERS`
    rule depends on the field name and is applied by :class:`HTTPHeaderMap`.
    (The old hyper's helper of this name took and yielded ``(name, value)``.)

    :param value: the raw field value.
    :returns: an iterator over the items, in order.
    :raises TypeError: if ``value`` is not ``bytes``.
    """
    if not isinstance(value, bytes):
        raise TypeError(f"value must be bytes, not {type(value).__name__}")
    return iter(_split_value(value))


def _split_value(value: bytes) -> list[bytes]:
    """Return the list items of ``value`` (the work behind :func:`canonical_form`)."""
    if b"," not in value:
        return [value.strip(_OWS)]
    if b'"' in value:
        items = _split_outside_quotes(value)
    else:
        items = [item.strip(_OWS) for item in value.split(b",")]
    return [item for item in items if item] or [b""]


def _split_outside_quotes(value: bytes) -> list[bytes]:
    """Split ``value`` at the commas not inside a quoted string, stripping OWS.

    An unterminated quoted string runs to the end of the value.
    """
    items = []
    start = 0
    quoted = escaped = False
    for index, byte in enumerate(value):
        if escaped:
            escaped = False
        elif quoted:
            if byte == _BACKSLASH:
                escaped = True
            elif byte == _DQUOTE:
                quoted = False
        elif byte == _DQUOTE:
            quoted = True
        elif byte == _COMMA:
            items.append(value[start:index].strip(_OWS))
            start = index + 1
    items.append(value[start:].strip(_OWS))
    return items


def _field_items(field: _Field) -> list[bytes]:
    """Return the canonical-form values of one stored field."""
    lname, _, value = field
    if lname in NO_SPLIT_HEADERS:
        return [value.strip(_OWS)]
    return _split_value(value)


def _to_bytes(obj: object, what: str) -> bytes:
    """Return ``obj`` as bytes, encoding a ``str`` as UTF-8.

    :raises ValueError: if ``obj`` is neither ``str`` nor ``bytes``, or is a
        ``str`` that UTF-8 cannot encode (a lone surrogate).
    """
    if isinstance(obj, bytes):
        return obj
    if isinstance(obj, str):
        try:
            return obj.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"{what} {obj!r} cannot be encoded as UTF-8") from exc
    raise ValueError(f"{what} must be str or bytes, not {type(obj).__name__}")


def _make_field(name: object, value: object) -> _Field:
    """Build a stored field from a name and a value given by the caller."""
    raw_name = _to_bytes(name, "header name")
    return (raw_name.lower(), raw_name, _to_bytes(value, "header value"))


def _key(key: object) -> bytes:
    """Return the lower-cased bytes form of a name used for lookup."""
    return _to_bytes(key, "header name").lower()


def _fields_from(source: object, argname: str) -> list[_Field]:
    """Convert one header source (see :data:`HeaderSource`) to stored fields.

    :raises TypeError: if ``source`` is not a mapping or an iterable.
    :raises ValueError: if an element is not a ``(name, value)`` pair, or a
        name or value is neither ``str`` nor ``bytes``.
    """
    if isinstance(source, HTTPHeaderMap):
        return list(source._fields)
    if isinstance(source, Mapping):
        return [_make_field(name, value) for name, value in source.items()]
    if isinstance(source, (str, bytes, bytearray)) or not isinstance(source, Iterable):
        raise TypeError(
            f"{argname} must be a mapping or an iterable of (name, value) pairs, "
            f"not {type(source).__name__}"
        )
    fields = []
    for index, pair in enumerate(source):
        if isinstance(pair, (str, bytes, bytearray)) or not isinstance(pair, Iterable):
            raise ValueError(f"{argname} item {index} is not a (name, value) pair: {pair!r}")
        parts = tuple(pair)
        if len(parts) != 2:
            raise ValueError(f"{argname} item {index} has {len(parts)} elements, not 2")
        fields.append(_make_field(*parts))
    return fields


class HTTPHeaderMap:
    """An ordered, case-insensitive collection of HTTP header fields.

    HTTP headers look like a mapping but are not quite one: names repeat,
    compare case-insensitively, keep an order, and a repeated field is
    equivalent to one comma-joined field, *except when it is not*. This class
    stores the fields exactly as given (see :meth:`iter_raw`) and offers the
    mapping operations over their canonical form (see the module docs):

    - ``m[name]`` is the list of all values of that field, split into items;
    - ``m[name] = value`` *appends* a field, it never replaces one (use
      :meth:`replace`);
    - ``del m[name]`` removes every field with that name;
    - iterating, :meth:`items`, :meth:`keys` and :meth:`values` go over the
      canonical form: ``(name, value)`` pairs with lower-cased names, one per
      item, so ``len(m)`` counts items, not distinct names.

    Names compare case-insensitively for ASCII letters only (field names are
    ASCII tokens). Names and values are always returned as ``bytes``. They may be given as
    ``str`` (encoded as UTF-8) or ``bytes``; anything else raises
    :class:`ValueError`, as in the old hyper. Keyword arguments are added as
    given: ``content_type=`` is the name ``content_type``, not ``content-type``.

    Unlike the old hyper's class, this one is not a
    :class:`collections.abc.MutableMapping`: iteration yields pairs rather than
    names, which broke the mixin methods that class inherited (``clear``,
    ``popitem``, ``update`` from another map). Not hashable. Not safe to mutate
    from one thread while another reads it; concurrent readers are fine.

    Lookup, deletion and :meth:`replace` are linear in the number of fields;
    appending is O(1).

    :param args: sources of headers, added in order: another
        :class:`HTTPHeaderMap` (copied raw), a mapping, or an iterable of
        ``(name, value)`` pairs.
    :param kwargs: more headers, added after ``args``.
    :raises TypeError: if a positional argument is not a mapping or iterable.
    :raises ValueError: if an element is not a ``(name, value)`` pair, or a
        name or value is neither ``str`` nor ``bytes``.
    """

    __slots__ = ("_fields",)

    def __init__(self, *args: HeaderSource, **kwargs: str | bytes) -> None:
        self._fields: list[_Field] = []
        for index, source in enumerate(args):
            self._fields.extend(_fields_from(source, f"argument {index}"))
        self._fields.extend(_make_field(name, value) for name, value in kwargs.items())

    @classmethod
    def _received(cls, fields: Iterable[tuple[bytes, bytes]]) -> HTTPHeaderMap:
        """A map of fields as a protocol parser received them: ``bytes`` names
        and values, already checked, so taken without the constructor's
        conversions (a tenth of a small HTTP/2 request's CPU time)."""
        received = cls.__new__(cls)
        received._fields = [(name.lower(), name, value) for name, value in fields]
        return received

    def __getitem__(self, key: str | bytes) -> list[bytes]:
        """Return every value of the field ``key``, split into items, in order.

        :raises KeyError: if no field has that name.
        :raises ValueError: if ``key`` is neither ``str`` nor ``bytes``.
        """
        lname = _key(key)
        values: list[bytes] = []
        for field in self._fields:
            if field[0] == lname:
                values.extend(_field_items(field))
        if not values:
            raise KeyError(key)
        return values

    def __setitem__(self, key: str | bytes, value: str | bytes) -> None:
        """Append the field ``key: value``; existing fields are kept.

        :raises ValueError: if ``key`` or ``value`` is neither ``str`` nor ``bytes``.
        """
        self._fields.append(_make_field(key, value))

    def __delitem__(self, key: str | bytes) -> None:
        """Remove every field named ``key``.

        :raises KeyError: if no field has that name.
        :raises ValueError: if ``key`` is neither ``str`` nor ``bytes``.
        """
        lname = _key(key)
        kept = [field for field in self._fields if field[0] != lname]
        if len(kept) == len(self._fields):
            raise KeyError(key)
        self._fields = kept

    def __contains__(self, key: object) -> bool:
        """Return whether a field named ``key`` is present.

        :raises ValueError: if ``key`` is neither ``str`` nor ``bytes``.
        """
        lname = _key(key)
        return any(field[0] == lname for field in self._fields)

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        """Yield ``(lower-cased name, item)`` for every item of every field."""
        for field in self._fields:
            lname = field[0]
            for item in _field_items(field):
                yield lname, item

    def __len__(self) -> int:
        """Return the number of items in canonical form (not of distinct names)."""
        return sum(len(_field_items(field)) for field in self._fields)

    def keys(self) -> Iterator[bytes]:
        """Yield the lower-cased name of every item, duplicates included."""
        for lname, _ in self:
            yield lname

    def values(self) -> Iterator[bytes]:
        """Yield every item of every field, in order."""
        for _, item in self:
            yield item

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """Yield ``(lower-cased name, item)`` pairs, as iterating does."""
        return iter(self)

    @overload
    def get(self, key: str | bytes) -> list[bytes] | None: ...

    @overload
    def get(self, key: str | bytes, default: _T) -> list[bytes] | _T: ...

    def get(self, key: str | bytes, default: object = None) -> object:
        """Return ``self[key]``, or ``default`` if no field has that name.

        :raises ValueError: if ``key`` is neither ``str`` nor ``bytes``.
        """
        try:
            return self[key]
        except KeyError:
            return default

    def iter_raw(self) -> Iterator[tuple[bytes, bytes]]:
        """Yield the fields exactly as added: original case, unsplit, in order."""
        for _, name, value in self._fields:
            yield name, value

    def replace(self, key: str | bytes, value: str | bytes) -> None:
        """Set the field ``key`` to the single value ``value``.

        The first field with that name is replaced in place (taking the new
        name's case) and the others are removed; if there is none, the field is
        appended.

        :raises ValueError: if ``key`` or ``value`` is neither ``str`` nor ``bytes``.
        """
        new = _make_field(key, value)
        lname = new[0]
        fields: list[_Field] = []
        replaced = False
        for field in self._fields:
            if field[0] != lname:
                fields.append(field)
            elif not replaced:
                fields.append(new)
                replaced = True
        if not replaced:
            fields.append(new)
        self._fields = fields

    def merge(self, other: HeaderSource) -> None:
        """Append every header from ``other``; nothing is added if it is invalid.

        :param other: another :class:`HTTPHeaderMap` (added raw), a mapping,
            or an iterable of ``(name, value)`` pairs.
        :raises TypeError: if ``other`` is not a mapping or iterable.
        :raises ValueError: if an element is not a ``(name, value)`` pair, or
            a name or value is neither ``str`` nor ``bytes``.
        """
        self._fields.extend(_fields_from(other, "other"))

    def __eq__(self, other: object) -> bool:
        """Compare the raw fields, in order, with names case-insensitive.

        ``other`` may be an :class:`HTTPHeaderMap`, or a mapping, list or tuple
        that would build an equal one; anything else is not equal.
        """
        if isinstance(other, HTTPHeaderMap):
            other_map = other
        elif isinstance(other, (Mapping, list, tuple)):
            try:
                other_map = HTTPHeaderMap(other)
            except (TypeError, ValueError):
                return NotImplemented
        else:
            return NotImplemented
        return self._comparable() == other_map._comparable()

    # Defining __eq__ would drop hashing anyway; say it: the map is mutable.
    __hash__ = None  # type: ignore[assignment]

    def _comparable(self) -> list[tuple[bytes, bytes]]:
        """Return the fields as ``(lower-cased name, raw value)`` pairs."""
        return [(lname, value) for lname, _, value in self._fields]

    def __repr__(self) -> str:
        """Show the raw fields, e.g. ``HTTPHeaderMap([(b'Host', b'a.example')])``."""
        return f"{type(self).__name__}({list(self.iter_raw())!r})"


#: What the constructor and :meth:`HTTPHeaderMap.merge` accept as a source of
#: headers. Names and values may each be ``str`` or ``bytes``.
HeaderSource: TypeAlias = (
    HTTPHeaderMap
    | Mapping[str, str | bytes]
    | Mapping[bytes, str | bytes]
    | Mapping[str | bytes, str | bytes]
    | Iterable[tuple[str | bytes, str | bytes]]
)
