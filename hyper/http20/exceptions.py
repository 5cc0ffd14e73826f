"""The old hyper's HTTP/2 exception names, kept as an import path.

All of them live in :mod:`hyper.common.exceptions`; this module only
re-exports them under their historical names.
"""

from __future__ import annotations

from hyper.common.exceptions import (
    ConnectionTerminatedError,
    HPACKDecodingError,
    HPACKEncodingError,
    HTTP20Error,
    ProtocolError,
    StreamResetError,
)

#: The old name for an error that ended the whole HTTP/2 connection (GOAWAY).
ConnectionError = ConnectionTerminatedError

__all__ = [
    "ConnectionError",
    "HPACKDecodingError",
    "HPACKEncodingError",
    "HTTP20Error",
    "ProtocolError",
    "StreamResetError",
]
