"""Page tokens: opaque, round-trip, and refused when forged, garbled or of another dataset."""

from __future__ import annotations

import base64

import pytest

from agencies.base import FeedPosition
from agencies.soap.tokens import FeedToken, KeysToken, TokenError, decode_feed, decode_keys, encode_feed, encode_keys

pytestmark = pytest.mark.unit


def test_round_trips() -> None:
    token = FeedToken("parcels", "2019-01-01T00:00:00Z", FeedPosition("2020-01-01T00:00:00Z", "26734/1/100"))
    assert decode_feed(encode_feed(token), "parcels") == token
    start = FeedToken("parcels", "2019-01-01T00:00:00Z", None)
    assert decode_feed(encode_feed(start), "parcels") == start
    keys = KeysToken("branches", "0100109106-001")
    assert decode_keys(encode_keys(keys), "branches") == keys
    assert encode_feed(token) == encode_feed(token)  # stable: the same position, the same token


def test_is_url_safe() -> None:
    token = encode_feed(FeedToken("parcels", "x", FeedPosition("y", "Đ/?+&" * 10)))
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@pytest.mark.parametrize("bad", [
    "", "%%%", "A", base64.urlsafe_b64encode(b'12345678{"d":"parcels","s":"x","a":null}').decode(),
])
def test_forged_or_garbled_tokens_are_refused(bad: str) -> None:
    with pytest.raises(TokenError):
        decode_feed(bad, "parcels")


def test_a_flipped_character_is_refused() -> None:
    token = encode_feed(FeedToken("parcels", "2019-01-01T00:00:00Z", None))
    flipped = token[:12] + ("A" if token[12] != "A" else "B") + token[13:]
    with pytest.raises(TokenError):
        decode_feed(flipped, "parcels")


def test_a_token_of_another_dataset_or_kind_is_refused() -> None:
    feed = encode_feed(FeedToken("parcels", "2019-01-01T00:00:00Z", None))
    with pytest.raises(TokenError):
        decode_feed(feed, "land_certificates")
    with pytest.raises(TokenError):
        decode_keys(feed, "parcels")
