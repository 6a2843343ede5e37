"""Key listing pages as both readers check them (connectors/keypages.py): a key no record can have fails,
naming the page, instead of reading as the deletion of the real key. SOAP once turned a nil key into "None"."""

import pytest

from connectors.errors import MalformedResponse
from connectors.keypages import listed_keys

pytestmark = pytest.mark.unit


def test_keys_come_back_as_text() -> None:
    assert listed_keys(["GPXD-1", 42], source="land", operation="ListKeys", page="page=3") == ["GPXD-1", "42"]
    assert listed_keys([], source="land", operation="ListKeys", page="page=3") == []


@pytest.mark.parametrize(("key", "problem"), [
    (None, "not a string or number"), ("", "not a string or number"), (True, "not a string or number"),
    ({"id": 1}, "not a string or number"), ("A\nB", "contains a newline"), ("\ud800x", "not valid Unicode"),
])
def test_a_key_no_record_can_have_fails_naming_the_page(key: object, problem: str) -> None:
    with pytest.raises(MalformedResponse) as raised:
        listed_keys(["GPXD-1", key], source="land", operation="ListKeys", page="page=3")
    message = str(raised.value)
    assert problem in message and "land" in message and "ListKeys" in message and "page=3" in message, message
