"""The one page loop, `walk(strategy, fetch_page, url, params)`, over each pagination style with a scripted
server: what it asks, in what order, when it stops, and the repeated-page guard."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pytest

from connectors.config import CursorPagination, LinkHeaderPagination, NoPagination, OffsetPagination, PagePagination
from connectors.declarations.pagination import Pagination, TokenPagination
from connectors.errors import MalformedResponse, PaginationLoop
from connectors.pagination import Follow, Page, PageRequest, paginator, walk
from core.errors import Retriable

pytestmark = pytest.mark.unit

Reply = Callable[[PageRequest], Page]


class Script:
    """A server scripted per request: `reply` turns what was asked into a page; every call is kept."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.asked: list[PageRequest] = []

    def __call__(self, request: PageRequest, follow: Follow) -> tuple[int, PageRequest | None]:
        self.asked.append(request)
        assert len(self.asked) < 20, "the walk did not stop"  # a broken guard fails here, not hangs
        page = self.reply(request)
        return page.count, follow(page)


def run(config: Pagination, reply: Reply, params: Mapping[str, Any] | None = None,
        url: str = "/items") -> tuple[list[tuple[str, int]], Script]:
    script = Script(reply)
    pages = [(r.label, n) for r, n in walk(paginator(config, "agency", url), script, url, params or {})]
    return pages, script


def test_page_numbers_until_a_short_page_with_the_page_size_asked() -> None:
    config = PagePagination(style="page", page_param="p", limit_param="per_page", page_size=3)
    pages, script = run(config, lambda r: Page({}, None, 3 if r.params["p"] < 3 else 1), {"q": "x"})
    assert pages == [("page=1", 3), ("page=2", 3), ("page=3", 1)]
    assert script.asked[-1].params == {"q": "x", "per_page": 3, "p": 3}


def test_page_numbers_stop_at_an_empty_page() -> None:
    config = PagePagination(style="page", page_size=2)
    pages, _ = run(config, lambda r: Page({}, None, 2 if r.params["page"] < 2 else 0))
    assert pages == [("page=1", 2), ("page=2", 0)]


def test_page_numbers_stop_at_the_declared_total_pages_from_zero() -> None:
    config = PagePagination(style="page", first_page=0, page_size=2, total_pages_field="data.total_pages")
    # full pages every time: only the declared total (as text, as some servers send it) stops the walk
    pages, _ = run(config, lambda r: Page({"data": {"total_pages": "3"}}, None, 2))
    assert pages == [("page=0", 2), ("page=1", 2), ("page=2", 2)]


def test_page_numbers_refuse_a_total_that_is_no_count() -> None:
    config = PagePagination(style="page", total_pages_field="data.total_pages")
    with pytest.raises(MalformedResponse, match=r"^\[agency\] operation /items page page=1: data.total_pages is "
                                                r"not a page count: 'many'"):
        run(config, lambda r: Page({"data": {"total_pages": "many"}}, None, 5))


def test_soap_page_number_inside_the_body_with_the_total_at_a_dotted_path() -> None:
    # SOAP declares both as dotted paths: keha.trang is an argument, the total comes back nested
    config = PagePagination(style="page", page_param="keha.trang", total_pages_field="response.keha.tongSoTrang")
    pages, script = run(config, lambda r: Page({"response": {"keha": {"tongSoTrang": "2"}}}, None, 1000),
                        {"keha.kuupaev": "2026-01-01"}, url="ListOp")
    assert pages == [("page=1", 1000), ("page=2", 1000)]
    assert [r.url for r in script.asked] == ["ListOp", "ListOp"]
    assert script.asked[1].params == {"keha.kuupaev": "2026-01-01", "keha.trang": 2}


def test_offsets_until_the_total_moving_by_the_echoed_limit() -> None:
    config = OffsetPagination(style="offset", limit_param="limit", page_size=10)

    def reply(r: PageRequest) -> Page:
        offset = r.params["offset"]
        return Page({"offset": offset, "limit": 4, "total": 10}, None, min(4, 10 - offset))

    pages, script = run(config, reply)
    assert pages == [("offset=0", 4), ("offset=4", 4), ("offset=8", 2)]
    assert [r.params["limit"] for r in script.asked] == [10, 10, 10]  # asked for ours, moved by theirs


def test_offsets_without_a_total_stop_at_an_empty_page() -> None:
    config = OffsetPagination(style="offset", total_field=None, page_size=2)
    pages, _ = run(config, lambda r: Page({}, None, 2 if r.params["offset"] < 4 else 0))
    assert pages == [("offset=0", 2), ("offset=2", 2), ("offset=4", 0)]


def test_offsets_refuse_a_stale_page_naming_it() -> None:
    config = OffsetPagination(style="offset", page_size=2)
    with pytest.raises(PaginationLoop, match=r"^\[agency\] operation /items page offset=2: asked for offset 2, "
                                             r"the server served offset 0"):
        run(config, lambda r: Page({"offset": 0, "total": 9}, None, 2))


def test_cursor_parameter_replaced_each_page_until_there_is_none() -> None:
    config = CursorPagination(style="cursor", cursor_field="next_cursor", cursor_param="cursor")
    chain = {None: "c1", "c1": "c2", "c2": None}
    pages, script = run(config, lambda r: Page({"next_cursor": chain[r.params.get("cursor")]}, None, 5),
                        {"since": "t"})
    assert pages == [("first", 5), ("c1", 5), ("c2", 5)]
    assert script.asked[2].params == {"since": "t", "cursor": "c2"}


def test_cursor_repeated_is_a_loop_naming_source_operation_and_page() -> None:
    config = CursorPagination(style="cursor", cursor_field="next_cursor", cursor_param="cursor")
    chain = {None: "c1", "c1": "c2", "c2": "c1"}  # a loop through a page two steps back
    with pytest.raises(PaginationLoop) as caught:
        run(config, lambda r: Page({"next_cursor": chain[r.params.get("cursor")]}, None, 5))
    assert str(caught.value) == ("[agency] operation /items page c2: loop detected in pagination: "
                                 "next page 'c1' was already followed")
    assert caught.value.source == "agency" and caught.value.page == "c2" and caught.value.operation == "/items"


def test_next_links_followed_with_their_own_query_until_null() -> None:
    config = CursorPagination(style="cursor", next_link_field="next")
    links = {"first": "http://h/items?after=2", "http://h/items?after=2": "http://h/items?after=4",
             "http://h/items?after=4": None}
    pages, script = run(config, lambda r: Page({"next": links[r.label]}, None, 2))
    assert [label for label, _ in pages] == ["first", "http://h/items?after=2", "http://h/items?after=4"]
    assert script.asked[2].url == "http://h/items" and script.asked[2].params == {"after": "4"}


def test_link_headers_until_no_next_and_a_page_linking_to_itself_is_a_loop() -> None:
    def link(to: str | None) -> httpx.Headers:
        return httpx.Headers({"Link": f'<{to}>; rel="next"'} if to else {})

    nexts = {"first": "http://h/i?page=2", "http://h/i?page=2": "http://h/i?page=3", "http://h/i?page=3": None}
    pages, _ = run(LinkHeaderPagination(style="link_header"), lambda r: Page({}, link(nexts[r.label]), 2))
    assert [label for label, _ in pages] == ["first", "http://h/i?page=2", "http://h/i?page=3"]
    back = {"first": "http://h/i?page=2", "http://h/i?page=2": "http://h/i?page=2"}
    with pytest.raises(PaginationLoop, match=r"page http://h/i\?page=2: loop detected"):
        run(LinkHeaderPagination(style="link_header"), lambda r: Page({}, link(back[r.label]), 2))


def test_soap_page_tokens_until_an_empty_token() -> None:
    config = TokenPagination(style="token", cursor_field="jargmineLeht", cursor_param="leht")
    chain = {None: "L2", "L2": "L3", "L3": ""}
    pages, script = run(config, lambda r: Page({"jargmineLeht": chain[r.params.get("leht")]}, None, 7),
                        url="ListOp")
    assert pages == [("first", 7), ("L2", 7), ("L3", 7)]
    assert [r.params.get("leht") for r in script.asked] == [None, "L2", "L3"]


def test_no_pagination_is_one_page() -> None:
    pages, _ = run(NoPagination(), lambda r: Page({"next": "ignored"}, None, 50))
    assert pages == [("first", 50)]


def test_a_loop_found_inside_the_fetch_retry_is_fetched_again() -> None:
    # fetch_page calls `follow` inside its retry, so a page that repeated its token once (a stale
    # cache, say) is asked again and the walk goes on; the guard raises only if the retries run out.
    config = TokenPagination(style="token", cursor_field="next", cursor_param="token")
    served: dict[str | None, list[str]] = {None: ["t1"], "t1": ["t1", "t2"], "t2": [""]}

    def fetch(request: PageRequest, follow: Follow) -> tuple[str, PageRequest | None]:
        for _attempt in range(3):
            token = served[request.params.get("token")]
            try:
                return str(request.label), follow(Page({"next": token.pop(0) if len(token) > 1 else token[0]},
                                                       None, 1))
            except Retriable:
                continue
        raise AssertionError("retries used up")

    walked = [payload for _, payload in walk(paginator(config, "agency", "Op"), fetch, "Op", {})]
    assert walked == ["first", "t1", "t2"]


def test_walk_is_lazy_and_a_failing_page_ends_it_after_the_pages_before() -> None:
    config = PagePagination(style="page", page_size=1)
    asked: list[str] = []

    def fetch(request: PageRequest, follow: Follow) -> tuple[str, PageRequest | None]:
        asked.append(request.label)
        if request.params["page"] == 3:
            raise MalformedResponse("truncated", source="agency", operation="/items", page=request.label)
        return request.label, follow(Page({}, None, 1))

    pages = walk(paginator(config, "agency", "/items"), fetch, "/items", {})
    assert asked == []  # nothing is fetched before the first page is wanted
    assert next(pages)[1] == "page=1" and asked == ["page=1"]
    with pytest.raises(MalformedResponse, match="page page=3: truncated"):
        list(pages)
    assert asked == ["page=1", "page=2", "page=3"]
