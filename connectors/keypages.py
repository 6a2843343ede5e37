"""A page of a key listing checked before any of it is used: a key that no record can have would read as
the deletion of the real one (a reconciled stream deletes every known key not listed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.errors import MalformedResponse


def listed_keys(keys: Sequence[Any], *, source: str, operation: str, page: str) -> list[str]:
    """The page's keys as text; a null, empty, boolean or structured key, one with a newline (keys are
    kept newline-joined) or one that is not valid Unicode (a JSON `\\ud800` escape) fails, naming the page."""
    def fail(problem: str) -> MalformedResponse:
        return MalformedResponse(f"a listed key {problem}", source=source, operation=operation, page=page)

    bad = next((k for k in keys if k is None or isinstance(k, bool) or not isinstance(k, (str, int)) or k == ""),
               ...)
    if bad is not ...:
        raise fail(f"is not a string or number: {bad!r}")
    texts = [str(k) for k in keys]
    joined = "\n".join(texts)
    if joined.count("\n") != max(len(texts) - 1, 0):
        raise fail("contains a newline")
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError:
        raise fail("is not valid Unicode") from None
    return texts
