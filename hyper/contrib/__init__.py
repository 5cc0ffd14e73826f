"""Integrations with other libraries: the requests adapter and the HTTPie plugin.

``hyper.contrib.HTTP20Adapter`` is the requests transport adapter (the old
hyper's import path); it is imported on first use, so importing hyper or
this package never imports requests. The HTTPie plugin lives in
:mod:`hyper.contrib.httpie` and is found by HTTPie through its entry point.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hyper.contrib.requests_adapter import HTTP20Adapter

__all__ = ["HTTP20Adapter"]


def __getattr__(name: str) -> Any:
    """Import ``HTTP20Adapter`` (and so requests) only when it is asked for.

    :raises ImportError: if requests is not installed.
    :raises AttributeError: for any other name.
    """
    if name == "HTTP20Adapter":
        from hyper.contrib.requests_adapter import HTTP20Adapter

        return HTTP20Adapter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
