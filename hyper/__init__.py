"""hyper: a synchronous HTTP/2 and HTTP/1.1 client.

Only the names in ``__all__`` (and those documented in the API reference)
are public; everything else may change without notice.
"""

from __future__ import annotations

import logging

from hyper.common.exceptions import HyperError
from hyper.common.util import HTTPVersion

__version__ = "1.0.0.dev0"

__all__ = ["HTTPVersion", "HyperError", "__version__"]

logging.getLogger(__name__).addHandler(logging.NullHandler())
