"""The operations: a parsed request in, response bytes out, from the store through the value faults.

Synchronous on purpose: the app calls them on the event loop's thread, so a store that keeps one
SQLite connection is only ever used from that thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from agencies.base import FeedPosition, Record, RequestFault, Simulator
from agencies.soap import tokens
from agencies.soap.render import render_codes, render_response, text_of
from agencies.soap.request import SoapFault
from agencies.soap.services import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Operation, Service


def _page_size(params: Mapping[str, str]) -> int:
    text = params.get("pageSize", "").strip()
    if not text:
        return DEFAULT_PAGE_SIZE
    try:
        size = int(text)
    except ValueError:
        raise SoapFault("soap:Client", f"pageSize {text[:40]!r} is not an integer") from None
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise SoapFault("soap:Client", f"pageSize {size} is outside 1..{MAX_PAGE_SIZE}")
    return size


def parse_since(text: str | None) -> datetime:
    """An xsd:dateTime; one without a zone is read as UTC (the simulators' clocks are UTC)."""
    if not text or not text.strip():
        raise SoapFault("soap:Client", "since is required")
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise SoapFault("soap:Client", f"since {text[:40]!r} is not an xsd:dateTime") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def _position(sim: Simulator, dataset: str, record: Record) -> FeedPosition:
    # From the record as stored, before value faults could touch its key or its time.
    return FeedPosition(updated_at=text_of(record["updatedAt"]), key=sim.store.key_of(dataset, record))


def changes(
    sim: Simulator, service: Service, op: Operation, params: Mapping[str, str],
    fault: RequestFault | None, header: str = "",
) -> bytes:
    size = _page_size(params)
    given = params.get("pageToken", "").strip()
    try:
        token = tokens.decode_feed(given, op.dataset) if given else None
    except tokens.TokenError as e:
        raise SoapFault("soap:Client", f"pageToken: {e}") from None
    if token is None:
        token = tokens.FeedToken(op.dataset, iso_z(parse_since(params.get("since"))), None)
    since = parse_since(token.since)
    raw = sim.store.changes(op.dataset, since, token.after, size + 1)
    more, raw = len(raw) > size, raw[:size]

    next_token: str | None = None
    if fault == "stale_cursor":
        next_token = given or tokens.encode_feed(token)  # the position it was called with: a loop
    elif fault == "duplicate_page" and raw:
        # End this page halfway, so the next page repeats the second half of this one.
        middle = raw[max(0, len(raw) // 2 - 1)]
        next_token = tokens.encode_feed(tokens.FeedToken(op.dataset, token.since, _position(sim, op.dataset, middle)))
    elif more:
        next_token = tokens.encode_feed(tokens.FeedToken(op.dataset, token.since, _position(sim, op.dataset, raw[-1])))

    records = sim.faults.apply(op.dataset, raw)
    return render_response(
        op.name, service.namespace, op.item, service.fields[op.dataset], records, next_token, header
    )


def get(sim: Simulator, service: Service, op: Operation, params: Mapping[str, str], header: str = "") -> bytes:
    key_fields: dict[str, object] = {}
    for name in op.key_params:
        text = params.get(name, "").strip()
        if not text:
            raise SoapFault("soap:Client", f"{name} is required")
        if name in op.int_params:
            try:
                key_fields[name] = int(text)
            except ValueError:
                raise SoapFault("soap:Client", f"{name} {text[:40]!r} is not an xsd:int") from None
        else:
            key_fields[name] = text
    record = sim.store.get(op.dataset, sim.store.key_of(op.dataset, key_fields))
    records = sim.faults.apply(op.dataset, [record]) if record is not None else []
    return render_response(op.name, service.namespace, op.item, service.fields[op.dataset], records, None, header)


def keys(
    sim: Simulator, service: Service, op: Operation, params: Mapping[str, str],
    fault: RequestFault | None, header: str = "",
) -> bytes:
    size = _page_size(params)
    given = params.get("pageToken", "").strip()
    try:
        token = tokens.decode_keys(given, op.dataset) if given else tokens.KeysToken(op.dataset, None)
    except tokens.TokenError as e:
        raise SoapFault("soap:Client", f"pageToken: {e}") from None
    codes = sim.store.keys(op.dataset, token.after, size + 1)
    more, codes = len(codes) > size, codes[:size]

    next_token: str | None = None
    if fault == "stale_cursor":
        next_token = given or tokens.encode_keys(token)
    elif fault == "duplicate_page" and codes:
        next_token = tokens.encode_keys(tokens.KeysToken(op.dataset, codes[max(0, len(codes) // 2 - 1)]))
    elif more:
        next_token = tokens.encode_keys(tokens.KeysToken(op.dataset, codes[-1]))
    return render_codes(op.name, service.namespace, codes, next_token, header)
