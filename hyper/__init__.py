"""hyper: a synchronous HTTP/2 and HTTP/1.1 client.

Only the names in ``__all__`` (and those documented in the API reference)
are public; everything else may change without notice.
"""

from __future__ import annotations

import logging

__version__ = "1.0.0.dev0"

from hyper.common.connection import HTTPConnection
from hyper.common.exceptions import HyperError
from hyper.common.priority import Priority
from hyper.common.timeout import Timeout
from hyper.common.util import HTTPVersion
from hyper.http11.connection import HTTP11Connection
from hyper.http11.response import HTTP11Response
from hyper.http20.connection import HTTP20Connection
from hyper.http20.response import HTTP20Push, HTTP20Response

__all__ = [
    "HTTP11Connection",
    "HTTP11Response",
    "HTTP20Connection",
    "HTTP20Push",
    "HTTP20Response",
    "HTTPConnection",
    "HTTPVersion",
    "HyperError",
    "Priority",
    "Timeout",
    "__version__",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
