"""REST (JSON over httpx): the pages of one stream, and the key listing used for reconciliation."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from connectors.config import Pagination, SourceConfig, StreamConfig
from connectors.errors import MalformedResponse
from connectors.http import HttpCaller, Response
from connectors.pagination import Page, PageRequest, paginator
from connectors.state import format_ts
from connectors.types import RawPage


class RestReader:
    def __init__(self, source: SourceConfig, caller: HttpCaller) -> None:
        self.source, self.caller = source, caller

    def _parse(self, response: Response, records_field: str, request: PageRequest) -> tuple[dict[str, Any], bool]:
        bad_utf8 = False
        try:
            try:
                body = json.loads(response.content)
            except UnicodeDecodeError:
                # A record carries bytes that are not UTF-8: keep the page, flag the values (coerce.py).
                body = json.loads(response.content.decode("utf-8", "surrogateescape"))
                bad_utf8 = True
        except ValueError as exc:
            raise MalformedResponse(
                f"body is not valid JSON ({exc.__class__.__name__}: {exc})", source=self.source.name,
                operation=request.url, page=request.label,
                excerpt=self.caller.redactor.excerpt(response.content[-200:]),
            ) from None
        if not isinstance(body, dict) or not isinstance(body.get(records_field), list):
            raise MalformedResponse(
                f"expected an object with a list {records_field!r}", source=self.source.name,
                operation=request.url, page=request.label,
                excerpt=self.caller.redactor.excerpt(response.content[:200]),
            )
        return body, bad_utf8

    def _walk(self, url: str, params: Mapping[str, Any], records_field: str,
              pagination: Pagination) -> Iterator[tuple[PageRequest, dict[str, Any], bool]]:
        strategy = paginator(pagination, self.source.name, url)
        request: PageRequest | None = strategy.first(url, params)
        followed: set[str] = set()
        while request is not None:
            current = request

            def parse(response: Response, current: PageRequest = current) -> tuple[
                    dict[str, Any], bool, PageRequest | None]:
                body, bad_utf8 = self._parse(response, records_field, current)
                page = Page(body, response.headers, len(body[records_field]))
                return body, bad_utf8, strategy.next(current, page, followed)

            body, bad_utf8, request = self.caller.call(
                "GET", current.url, operation=url, page=current.label, parse=parse, params=current.params)
            followed.add(current.label)
            yield current, body, bad_utf8

    def pages(self, stream: StreamConfig, since: datetime | None) -> Iterator[RawPage]:
        assert stream.path is not None
        params: dict[str, Any] = dict(stream.params)
        if stream.incremental is not None and since is not None:
            params[stream.incremental.param] = format_ts(since)
        for request, body, bad_utf8 in self._walk(stream.path, params, stream.records, stream.pagination):
            records = body[stream.records]
            for record in records:
                if not isinstance(record, dict):
                    raise MalformedResponse(f"a record is not an object: {str(record)[:80]!r}",
                                            source=self.source.name, operation=stream.path, page=request.label)
            yield RawPage(request.label, records, bad_utf8)

    def keys(self, stream: StreamConfig) -> Iterator[list[str]]:
        deletes = stream.deletes
        assert deletes.path is not None and deletes.records is not None
        for _, body, _ in self._walk(deletes.path, {}, deletes.records, deletes.pagination):
            yield [str(k) for k in body[deletes.records]]
