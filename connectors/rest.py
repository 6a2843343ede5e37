"""REST (JSON over httpx): the pages of one stream, and the key listing used for reconciliation."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from connectors import xroad
from connectors.coerce import Decoded, raw_json_native
from connectors.config import Pagination, SourceConfig, StreamConfig, XRoadAuth
from connectors.errors import HeaderMismatch, UnexpectedShape
from connectors.http import HttpCaller, Response
from connectors.keypages import listed_keys
from connectors.pagination import Follow, Page, PageRequest, paginator, walk
from connectors.replies import json_body, list_at
from connectors.state import format_local, format_ts
from connectors.types import RawPage


class RestReader:
    def __init__(self, source: SourceConfig, caller: HttpCaller) -> None:
        self.source, self.caller = source, caller
        self.xroad = _xroad(source)  # through an X-Road security server, when the source says so
        self.request_ids = self.xroad.request_ids if self.xroad else []
        self.request_hashes = self.xroad.request_hashes if self.xroad else []

    def _parse(self, response: Response, records_field: str, request: PageRequest,
               strict_utf8: bool, with_raw: bool) -> tuple[tuple[Any, list[Any]], bool]:
        source, operation, page, redactor = self.source.name, request.url, request.label, self.caller.redactor
        body, bad_utf8, native = json_body(response, source=source, operation=operation, page=page,
                                           redactor=redactor, strict_utf8=strict_utf8)
        records = list_at(body, records_field, source=source, operation=operation, page=page, redactor=redactor,
                          content=response.content)
        if with_raw:  # a feed's records (not a key listing's): each must be an object
            for record in records:
                if not isinstance(record, dict):
                    raise UnexpectedShape(f"a record is not an object: {str(record)[:80]!r}", source=source,
                                          operation=operation, page=page)
            if native:
                records = Decoded(records, raw_json_native(records))
        return (body, records), bad_utf8

    def _walk(self, url: str, params: Mapping[str, Any], records_field: str, pagination: Pagination,
              strict_utf8: bool = False, with_raw: bool = False
              ) -> Iterator[tuple[PageRequest, tuple[list[Any], bool]]]:
        """(request, (records, bad_utf8)) of every page; `url` names the operation in errors. `with_raw`: the
        records of a feed, each an object, with their `_raw` written (coerce.Decoded) where orjson parsed them."""

        def fetch(current: PageRequest, follow: Follow) -> tuple[tuple[list[Any], bool], PageRequest | None]:
            request_id = xroad.new_request_id()

            def parse(response: Response) -> tuple[tuple[list[Any], bool], PageRequest | None]:
                if self.xroad is not None:
                    wrong = self.xroad.check(response.headers, request_id)
                    if wrong:
                        raise HeaderMismatch(wrong, source=self.source.name, operation=url, page=current.label)
                (body, records), bad_utf8 = self._parse(response, records_field, current, strict_utf8, with_raw)
                # a bare list has no body fields: only headers (Link) or the count can say what is next
                page = Page(body if isinstance(body, dict) else {}, response.headers, len(records))
                return (records, bad_utf8), follow(page)

            target, headers = current.url, None
            if self.xroad is not None:
                headers = self.xroad.headers(request_id)
                if "://" not in target:  # a next link is already a full URL
                    target = self.xroad.path(target)
            return self.caller.call("GET", target, operation=url, page=current.label, parse=parse,
                                    params=current.params, headers=headers)

        return walk(paginator(pagination, self.source.name, url), fetch, url, params)

    def pages(self, stream: StreamConfig, since: datetime | None) -> Iterator[RawPage]:
        assert stream.path is not None
        params: dict[str, Any] = dict(stream.params)
        if stream.incremental is not None and since is not None:
            params[stream.incremental.param] = (
                format_local(since, ZoneInfo(self.source.timezone)) if stream.incremental.format == "local"
                else format_ts(since))
        for request, (records, bad_utf8) in self._walk(stream.path, params, stream.records, stream.pagination,
                                                        with_raw=True):
            yield RawPage(request.label, records, bad_utf8)

    def keys(self, stream: StreamConfig) -> Iterator[list[str]]:
        deletes = stream.deletes
        assert deletes.path is not None and deletes.records is not None
        # Strict: a key mangled by a bad byte, or a null, would read as the deletion of the real key.
        for request, (keys, _) in self._walk(deletes.path, {}, deletes.records, deletes.pagination, strict_utf8=True):
            yield listed_keys(keys, source=self.source.name, operation=deletes.path, page=request.label)


def _xroad(source: SourceConfig) -> xroad.RestXRoad | None:
    auth = source.auth
    if not isinstance(auth, XRoadAuth):
        return None
    from core.errors import ConfigError

    if not auth.xroad_service_code:
        raise ConfigError(f"{source.path.name}: auth.xroad_service_code: a REST source through X-Road names "
                          "its service code (the /r1/.../SERVICE part of every path)", source=source.name)
    try:
        client = xroad.Identifier.parse(auth.xroad_client, "auth.xroad_client")
        service = xroad.Identifier.parse(auth.xroad_service_prefix, "auth.xroad_service_prefix")
    except ValueError as exc:
        raise ConfigError(f"{source.path.name}: {exc}", source=source.name) from None
    return xroad.RestXRoad(client, service, auth.xroad_service_code, auth.xroad_user_id, auth.xroad_issue)
