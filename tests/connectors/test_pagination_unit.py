"""Pagination strategies on their own: what each asks first, what it asks next, and when it stops or refuses."""

from __future__ import annotations

import httpx
import pytest

from connectors.config import CursorPagination, LinkHeaderPagination, NoPagination, OffsetPagination, TokenPagination
from connectors.errors import MalformedResponse, PaginationLoop
from connectors.pagination import Page, paginator, walk

pytestmark = pytest.mark.unit


def test_offset_moves_by_the_served_page_size_and_stops_at_total() -> None:
    p = paginator(OffsetPagination(style="offset", limit_param="limit", page_size=10), "s", "/items")
    first = p.first("/items", {"since": "x"})
    assert first.params == {"since": "x", "limit": 10, "offset": 0} and first.label == "offset=0"
    second = p.next(first, Page({"offset": 0, "limit": 5, "total": 12}, None, 5))
    assert second is not None and second.params["offset"] == 5  # the server's echoed limit, not ours
    assert p.next(second, Page({"offset": 5, "total": 10}, None, 10)) is None  # 15 >= total


def test_offset_refuses_a_stale_page() -> None:
    p = paginator(OffsetPagination(style="offset", page_size=10), "s", "/items")
    first = p.first("/items", {})
    with pytest.raises(PaginationLoop, match="served offset 20"):
        p.next(first, Page({"offset": 20}, None, 10))


def test_offset_without_total_stops_at_a_short_page() -> None:
    p = paginator(OffsetPagination(style="offset", total_field=None, page_size=10), "s", "/items")
    first = p.first("/items", {})
    assert p.next(first, Page({}, None, 10)) is not None
    assert p.next(first, Page({}, None, 3)) is None


def test_token_goes_back_as_the_parameter_and_a_repeated_token_is_a_loop() -> None:
    p = paginator(TokenPagination(style="token", cursor_field="next", cursor_param="pageToken"), "s", "Op")
    first = p.first("Op", {})
    second = p.next(first, Page({"next": "t1"}, None, 2))
    assert second is not None and second.params["pageToken"] == "t1" and second.label == "t1"
    assert p.next(second, Page({"next": ""}, None, 2)) is None
    # the strategy itself is pure: the walk refuses the token it was called with
    replies = {"first": {"next": "t1"}, "t1": {"next": "t1"}}
    with pytest.raises(PaginationLoop, match="already followed"):
        for n, _ in enumerate(walk(p, lambda request, follow: (None, follow(Page(replies[request.label], None, 2))),
                                   "Op", {})):
            assert n < 5, "the walk did not stop"


def test_cursor_next_link_is_followed_and_a_non_link_refused() -> None:
    p = paginator(CursorPagination(style="cursor", next_link_field="next"), "s", "/items")
    first = p.first("/items", {})
    nxt = p.next(first, Page({"next": "http://h/items?after=9&limit=2"}, None, 2))
    assert nxt is not None and nxt.url == "http://h/items" and nxt.params == {"after": "9", "limit": "2"}
    with pytest.raises(MalformedResponse, match="not a link"):
        p.next(first, Page({"next": 42}, None, 2))


def test_link_header_and_no_pagination() -> None:
    p = paginator(LinkHeaderPagination(style="link_header"), "s", "/items")
    first = p.first("/items", {})
    headers = httpx.Headers({"Link": '<http://h/items?page=2>; rel="next"'})
    nxt = p.next(first, Page({}, headers, 2))
    assert nxt is not None and nxt.params == {"page": "2"}
    assert p.next(first, Page({}, httpx.Headers(), 2)) is None
    single = paginator(NoPagination(), "s", "/items")
    assert single.next(single.first("/items", {}), Page({}, None, 5)) is None
