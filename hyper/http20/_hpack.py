"""HPACK coders that remember the header blocks a connection repeats.

A program sending the same request again and again (the same fields in the
same order) makes hpack encode the same list to the same bytes, and a server
answering alike sends back the same block: together a third of a small
request's CPU time. HPACK coding is a pure function of the input and the
coder's dynamic table, so where coding changed nothing in the table, the
result can be kept and given again for as long as the table is in the same
state: the bytes or fields are exactly those hpack would produce.

The table's state is pinned by its newest entry (the object itself, held
here, so it cannot be freed and its identity reused), its length and its
maximum size: every insertion makes a new newest entry, an eviction
shortens the table, and a size change is either refused from the cache (the
encoder's pending update) or part of the state (the decoder's limits).
"""

from __future__ import annotations

from typing import Any

import hpack
from hpack.table import HeaderTable

__all__ = ["CACHE_SIZE", "MAX_CACHED_BLOCK", "CachingDecoder", "CachingEncoder"]

#: How many distinct header lists (or blocks) each coder remembers; the
#: memory is cleared when it is full.
CACHE_SIZE = 32
#: Only blocks up to this size are kept (a repeated block is mostly table
#: indices, a few bytes a field), so a connection's caches stay small.
MAX_CACHED_BLOCK = 1024

State = tuple[Any, ...]


def _table_state(table: HeaderTable, *limits: int) -> State:
    entries = table.dynamic_entries
    return (entries[0] if entries else None, len(entries), table.maxsize, *limits)


def _same(one: State, other: State) -> bool:
    """Whether two table states are the same (the newest entries by identity)."""
    return one[0] is other[0] and one[1:] == other[1:]


class CachingEncoder(hpack.Encoder):
    """An HPACK encoder that gives a header list it encoded before the same
    block, when that encoding left its table unchanged and the table is
    still in the same state. Keyed by the fields and their tuple types
    (a :class:`hpack.NeverIndexedHeaderTuple` encodes differently).
    """

    def __init__(self) -> None:
        super().__init__()
        self._cache: dict[tuple[Any, ...], tuple[State, bytes]] = {}

    def encode(self, headers: Any, huffman: bool = True) -> bytes:
        """Encode ``headers`` as hpack does (see the class docs)."""
        if isinstance(headers, dict) or self.header_table.resized:
            return super().encode(headers, huffman)
        fields = tuple(headers)
        key = (huffman, fields, tuple(map(type, fields)))
        state = _table_state(self.header_table)
        cached = self._cache.get(key)
        if cached is not None and _same(cached[0], state):
            return cached[1]
        block = super().encode(fields, huffman)
        if len(block) <= MAX_CACHED_BLOCK and _same(_table_state(self.header_table), state):
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = (state, block)
        return block


class CachingDecoder(hpack.Decoder):
    """An HPACK decoder that gives a block it decoded before the same
    fields, when that decoding left its table unchanged and the table and
    the decoder's limits are still as they were. Errors are never kept: a
    block that failed is decoded (and fails) again.
    """

    def __init__(self) -> None:
        super().__init__()
        self._cache: dict[tuple[bytes, bool], tuple[State, list[Any]]] = {}

    def _state(self) -> State:
        return _table_state(
            self.header_table, self.max_allowed_table_size, self.max_header_list_size
        )

    def decode(self, data: bytes, raw: bool = False) -> Any:
        """Decode ``data`` as hpack does (see the class docs); a new list each time."""
        key = (bytes(data), raw)
        state = self._state()
        cached = self._cache.get(key)
        if cached is not None and _same(cached[0], state):
            return list(cached[1])
        fields = list(super().decode(data, raw))
        if len(data) <= MAX_CACHED_BLOCK and _same(self._state(), state):
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = (state, fields)
        return list(fields)
