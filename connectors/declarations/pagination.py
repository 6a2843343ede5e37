"""Pagination styles of a stream (`pagination:` in a source file), one model per `style`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Tag
from pydantic.dataclasses import dataclass

from core.declarations import FORBID, Int, Invalid, Str


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class _Paged:
    limit_param: Str | None = None  # the request parameter carrying the page size, if the server takes one
    page_size: Int = 1000

    def __post_init__(self) -> None:
        if self.page_size <= 0:
            raise Invalid("page_size", "must be positive")


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class NoPagination(_Paged):
    """One request gives every record."""

    style: Literal["none"] = "none"


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class OffsetPagination(_Paged):
    """`offset`/`limit` parameters; stops at an empty page or when the offset reaches `total_field`."""

    style: Literal["offset"]
    offset_param: Str = "offset"
    total_field: Str | None = "total"


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class CursorPagination(_Paged):
    """A next link in the body (`next_link_field`, preferred when set), or a cursor field sent back as a parameter."""

    style: Literal["cursor"]
    next_link_field: Str | None = None
    cursor_field: Str | None = None
    cursor_param: Str | None = None

    def __post_init__(self) -> None:
        _Paged.__post_init__(self)
        if not (self.next_link_field or (self.cursor_field and self.cursor_param)):
            raise Invalid((), "style cursor needs next_link_field, or cursor_field and cursor_param")


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class TokenPagination(_Paged):
    """An opaque page token in the reply (`cursor_field`) sent back as `cursor_param` (SOAP page tokens)."""

    style: Literal["token"]
    cursor_field: Str
    cursor_param: Str


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class LinkHeaderPagination(_Paged):
    """RFC 8288 `Link: <...>; rel="next"` response headers."""

    style: Literal["link_header"]


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class PagePagination(_Paged):
    """A page number (`page=1, 2, ...`, or `keha.trang` inside a SOAP body): stops at an empty page, a
    short one, or the total pages the reply declares at `total_pages_field` (a dotted path)."""

    style: Literal["page"]
    page_param: Str = "page"
    first_page: Int = 1
    total_pages_field: Str | None = None


def style(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("style", "none"))
    return str(getattr(value, "style", "none"))


Pagination = Annotated[
    Annotated[NoPagination, Tag("none")] | Annotated[OffsetPagination, Tag("offset")]
    | Annotated[CursorPagination, Tag("cursor")] | Annotated[TokenPagination, Tag("token")]
    | Annotated[LinkHeaderPagination, Tag("link_header")] | Annotated[PagePagination, Tag("page")],
    Discriminator(style),
]
PaginationStyle = Literal["none", "offset", "cursor", "token", "link_header", "page"]
