"""Checking the header blocks a server sends (RFC 9113 sections 8.2 and 8.3).

hyper checks received field blocks itself instead of letting h2 do it, for
two reasons. RFC 9113 section 8.1.1 makes a malformed response a *stream*
error, while h2 raises a connection-level error that ends every stream on
the socket. And h2's checks run as a chain of generators that look at every
byte of every value in Python: about 40 us of a 300 us request. Here one
regular expression checks a name and one a value.

Each function returns why a block is malformed, or ``None``; the caller
resets the stream with PROTOCOL_ERROR. Pure: no I/O, no h2 state. Answers
for small well-formed blocks are remembered (a server sends the same head
again and again), :data:`MEMO_SIZE` of them, shared by all connections.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "CONNECTION_SPECIFIC",
    "REQUEST_PSEUDO",
    "request_problem",
    "response_problem",
    "trailers_problem",
]

#: A field name: lowercase visible ASCII without a colon (8.2.1), after a
#: single leading colon for a pseudo-header field.
_NAME = re.compile(rb":?[\x21-\x39\x3b-\x40\x5b-\x7e]+")
#: A field value must not hold NUL, CR or LF, nor start or end with a space
#: or tab (8.2.1).
_BAD_VALUE = re.compile(rb"[\x00\r\n]|\A[ \t]|[ \t]\Z")
#: Fields that only mean something to one HTTP/1.1 connection (8.2.2).
CONNECTION_SPECIFIC = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
)
#: The pseudo-header fields of a request (8.3.1), as a PUSH_PROMISE carries.
REQUEST_PSEUDO = frozenset({b":method", b":scheme", b":authority", b":path"})
_RESPONSE_PSEUDO = frozenset({b":status"})
#: A status code: three digits (RFC 9110 section 15).
_STATUS = re.compile(rb"[0-9]{3}")
_NONE: frozenset[bytes] = frozenset()
_REQUIRED_REQUEST_PSEUDO = frozenset({b":method", b":scheme", b":path"})

#: A received field block, as h2 hands it over (a list of pairs).
Fields = Sequence[tuple[bytes, bytes]]

#: How many well-formed blocks are remembered, and the largest remembered
#: (names and values together), so the memory stays small.
MEMO_SIZE = 64
MEMO_MAX_BYTES = 4096
_well_formed: dict[tuple[Any, ...], None] = {}


def _checked(kind: str, fields: Fields, check: Callable[[Fields], str | None]) -> str | None:
    """``check(fields)``, remembered for small blocks that pass."""
    key = (kind, *fields)
    if key in _well_formed:
        return None
    problem = check(fields)
    if problem is None and sum(len(name) + len(value) for name, value in fields) <= MEMO_MAX_BYTES:
        if len(_well_formed) >= MEMO_SIZE:
            _well_formed.clear()
        _well_formed[key] = None
    return problem


def _problem(fields: Fields, allowed: frozenset[bytes], required: frozenset[bytes]) -> str | None:
    """The first rule ``fields`` break, given the pseudo-header fields
    ``allowed`` in this block and those ``required``."""
    seen: set[bytes] = set()
    regular = False
    for name, value in fields:
        if _NAME.fullmatch(name) is None:
            return f"invalid field name {name!r}"
        if value and _BAD_VALUE.search(value) is not None:
            return f"invalid value of field {name.decode('ascii')}"
        if name[0] == 0x3A:  # ":"
            if regular:
                return f"pseudo-header field {name.decode('ascii')} after a regular field"
            if name not in allowed:
                return f"pseudo-header field {name.decode('ascii')} not allowed here"
            if name in seen:
                return f"repeated pseudo-header field {name.decode('ascii')}"
            seen.add(name)
            continue
        regular = True
        if name in CONNECTION_SPECIFIC:
            return f"connection-specific field {name.decode('ascii')}"
        if name == b"te" and value.lower() != b"trailers":
            return f"TE field with a value other than trailers: {value!r}"
    if not required <= seen:
        missing = ", ".join(sorted(name.decode("ascii") for name in required - seen))
        return f"missing pseudo-header field {missing}"
    return None


def response_problem(fields: Fields) -> str | None:
    """Why a response head (final or informational) is malformed, or None."""
    return _checked("response", fields, _response_problem)


def _response_problem(fields: Fields) -> str | None:
    problem = _problem(fields, _RESPONSE_PSEUDO, _RESPONSE_PSEUDO)
    if problem is None:
        status = next(value for name, value in fields if name == b":status")
        if _STATUS.fullmatch(status) is None:
            return f"invalid :status {status!r}"
    return problem


def trailers_problem(fields: Fields) -> str | None:
    """Why a trailer block is malformed (it may hold no pseudo-header field), or None."""
    return _checked("trailers", fields, lambda block: _problem(block, _NONE, _NONE))


def request_problem(fields: Fields) -> str | None:
    """Why a promised request (PUSH_PROMISE) is malformed, or None. Which
    requests a client accepts as pushes is decided apart (RFC 9113 8.4)."""
    return _checked(
        "request",
        fields,
        lambda block: _problem(block, REQUEST_PSEUDO, _REQUIRED_REQUEST_PSEUDO),
    )
