"""Pagination: strategies that say what the first page is and, from a page, what the next one is (or
that there is none), and the one loop over them, `walk(strategy, fetch_page, url, params)`.

A strategy is pure: `next` does not remember anything, so a page that is retried asks the same thing
again; it stops on what the page says (empty or short, no next cursor or link, the declared total
pages). `walk` keeps the labels of pages already followed and refuses (PaginationLoop, naming source,
operation and page) a next page that is one of them: a server that returns the token it was called
with, or a link to the page it served, would loop forever.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

import httpx

from connectors.coerce import field_value
from connectors.config import CursorPagination, OffsetPagination, PagePagination, Pagination, TokenPagination
from connectors.errors import MalformedResponse, PaginationLoop


@dataclass(frozen=True, slots=True)
class PageRequest:
    """One page to ask for: a path or URL (REST) and its parameters (REST query or SOAP arguments)."""

    url: str
    params: Mapping[str, Any] = field(default_factory=dict)
    label: str = "first"  # what `_page` says about rows from this page


@dataclass(frozen=True, slots=True)
class Page:
    """What a strategy needs from a response to find the next page."""

    body: Mapping[str, Any]
    headers: httpx.Headers | None
    count: int  # records on this page


class Paginator:
    def __init__(self, config: Pagination, source: str, operation: str) -> None:
        self.config: Pagination = config
        self.source, self.operation = source, operation

    def first(self, url: str, params: Mapping[str, Any]) -> PageRequest:
        params = dict(params)
        if self.config.limit_param:
            params[self.config.limit_param] = self.config.page_size
        return PageRequest(url, params, self._first_label())

    def _first_label(self) -> str:
        return "first"

    def next(self, request: PageRequest, page: Page) -> PageRequest | None:
        """The page after `request`, which answered `page`; None when there is none."""
        return None


class OffsetPaginator(Paginator):
    """`offset`/`limit` parameters; stops at an empty page or when `offset` reaches `total`.

    The offset moves by the page size the server applied (its `limit` echo, else ours), not by the
    records it sent: a page that repeats records of the previous one must not push the window past
    records never served."""

    config: OffsetPagination

    def first(self, url: str, params: Mapping[str, Any]) -> PageRequest:
        request = super().first(url, params)
        return PageRequest(url, {**request.params, self.config.offset_param: 0}, "offset=0")

    def next(self, request: PageRequest, page: Page) -> PageRequest | None:
        asked = int(request.params[self.config.offset_param])
        served = page.body.get(self.config.offset_param, asked)
        if served != asked:  # the server sent another page than the one asked for (a stale page)
            raise PaginationLoop(f"asked for offset {asked}, the server served offset {served!r}",
                                 source=self.source, operation=self.operation, page=request.label)
        if page.count == 0:
            return None
        echoed = page.body.get(self.config.limit_param) if self.config.limit_param else None
        step = echoed if isinstance(echoed, int) and echoed > 0 else self.config.page_size
        offset = asked + step
        total = page.body.get(self.config.total_field) if self.config.total_field else None
        if isinstance(total, int) and offset >= total:
            return None
        if total is None and page.count < step:
            return None
        params = {**request.params, self.config.offset_param: offset}
        return PageRequest(request.url, params, f"offset={offset}")


class CursorPaginator(Paginator):
    """A next link (`next_link_field`) or an opaque cursor (`cursor_field` -> `cursor_param`) in the body.

    Also serves SOAP page tokens (style `token`): the token goes back as an operation argument.
    """

    config: CursorPagination | TokenPagination

    def next(self, request: PageRequest, page: Page) -> PageRequest | None:
        c = self.config
        if isinstance(c, CursorPagination) and c.next_link_field:
            link = page.body.get(c.next_link_field)
            if not link:
                return None
            if not isinstance(link, str):
                raise MalformedResponse(f"{c.next_link_field} is not a link: {link!r}", source=self.source,
                                        operation=self.operation, page=request.label)
            return _link_request(link)
        token = page.body.get(str(c.cursor_field))
        if token is None or token == "":
            return None
        params = {k: v for k, v in request.params.items() if k != c.cursor_param}
        params[str(c.cursor_param)] = token
        return PageRequest(request.url, params, str(token))


class LinkHeaderPaginator(Paginator):
    """RFC 8288 `Link: <...>; rel="next"` headers (GitHub style)."""

    def next(self, request: PageRequest, page: Page) -> PageRequest | None:
        if page.headers is None:
            return None
        link = httpx.Response(200, headers=page.headers).links.get("next", {}).get("url")
        if not link:
            return None
        return _link_request(link)


def _link_request(link: str) -> PageRequest:
    """A followed link carries its own query; it is also the page's label."""
    parts = urlsplit(link)
    url = link.split("?", 1)[0]
    return PageRequest(url, dict(parse_qsl(parts.query, keep_blank_values=True)), link)


class PagePaginator(Paginator):
    """A page number (`page=1, 2, ...`): stops at an empty page, a short one, or the declared total pages.

    A page number counted by us, not the server, so a server that repeats a page cannot loop us."""

    config: PagePagination

    def first(self, url: str, params: Mapping[str, Any]) -> PageRequest:
        request = super().first(url, params)
        first = self.config.first_page
        return PageRequest(url, {**request.params, self.config.page_param: first}, f"page={first}")

    def next(self, request: PageRequest, page: Page) -> PageRequest | None:
        c = self.config
        number = int(request.params[c.page_param])
        if page.count == 0:
            return None
        if c.total_pages_field:
            total = field_value(page.body, c.total_pages_field)  # a dotted path
            if isinstance(total, str) and total.isdigit():
                total = int(total)
            if not isinstance(total, int) or isinstance(total, bool):
                raise MalformedResponse(f"{c.total_pages_field} is not a page count: {total!r}",
                                        source=self.source, operation=self.operation, page=request.label)
            if number - c.first_page + 1 >= total:
                return None
        elif page.count < c.page_size:
            return None
        params = {**request.params, c.page_param: number + 1}
        return PageRequest(request.url, params, f"page={number + 1}")


def paginator(config: Pagination, source: str, operation: str) -> Paginator:
    kinds: dict[str, type[Paginator]] = {
        "none": Paginator, "offset": OffsetPaginator, "cursor": CursorPaginator, "token": CursorPaginator,
        "link_header": LinkHeaderPaginator, "page": PagePaginator,
    }
    return kinds[config.style](config, source, operation)


T = TypeVar("T")
# What the next page is, from the page a request answered; raises PaginationLoop on a page already followed.
Follow = Callable[[Page], PageRequest | None]
# One page: the request, and `follow` to call on the reply *inside* the call's retry (a reply that
# loops or is stale is Retriable: fetched again, it may be right); returns what the page yields and
# what `follow` said.
FetchPage = Callable[[PageRequest, Follow], tuple[T, PageRequest | None]]


def walk(strategy: Paginator, fetch_page: FetchPage[T], url: str,
         params: Mapping[str, Any]) -> Iterator[tuple[PageRequest, T]]:
    """Every page of one listing, in order, as (request, what `fetch_page` made of it): from the
    strategy's first request until it says there is no next page."""
    request: PageRequest | None = strategy.first(url, params)
    followed: set[str] = set()
    while request is not None:
        current = request

        def follow(page: Page, current: PageRequest = current) -> PageRequest | None:
            after = strategy.next(current, page)
            if after is not None and (after.label == current.label or after.label in followed):
                raise PaginationLoop(f"loop detected in pagination: next page {after.label!r} was already followed",
                                     source=strategy.source, operation=strategy.operation, page=current.label)
            return after

        payload, request = fetch_page(current, follow)
        followed.add(current.label)
        yield current, payload
