"""The one declaration reader: pydantic's errors become `file: key.path: message`, tags left out of the path."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.config import CursorPagination, TokenPagination, load_source, parse_source, read_source
from core.declarations import key_path, read_yaml
from core.errors import ConfigError

pytestmark = pytest.mark.unit


def test_key_path_leaves_out_what_is_not_a_key_of_the_document() -> None:
    doc = {"streams": {"a": {"pagination": {"style": "token"}}}, "columns": [{"name": "x"}]}
    assert key_path(("streams", "a", "pagination", "token", "cursor_param"), doc) == "streams.a.pagination.cursor_param"
    assert key_path(("columns", 0, "type"), doc) == "columns[0].type"


def test_a_tagged_union_picks_the_model_of_its_style() -> None:
    tax = read_source("tax")
    assert isinstance(tax.stream("taxpayers").pagination, CursorPagination)
    assert isinstance(read_source("land").stream("parcels").pagination, TokenPagination)


@pytest.mark.parametrize(("edit", "message"), [
    ({"style": "token", "cursor_field": "t"}, "x.yaml: streams.s.pagination.cursor_param: required key is missing"),
    ({"style": "offset", "page_size": 0}, "x.yaml: streams.s.pagination.page_size: must be positive"),
    ({"style": "offset", "page_size": "10"}, "x.yaml: streams.s.pagination.page_size: expected int, got str '10'"),
    ({"style": "cursor"}, "x.yaml: streams.s.pagination: style cursor needs next_link_field"),
    ({"page_size": True}, "x.yaml: streams.s.pagination.page_size: expected int, got bool True"),
])
def test_pagination_errors_name_the_key(edit: dict[str, object], message: str) -> None:
    doc = {"source": "x", "protocol": "rest", "endpoint": "http://h/", "streams": {"s": {
        "path": "/p", "records": "items", "fields": {"id": "string"}, "primary_key": "id", "pagination": edit}}}
    with pytest.raises(ConfigError) as info:
        parse_source(doc, "x.yaml", Path("x.yaml"))
    assert str(info.value).startswith(message), str(info.value)


def test_parsing_does_not_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    declared = read_source("tax").endpoint
    monkeypatch.setenv("LIENTHONG_AGENCY_TAX_URL", "http://10.9.9.9:1")
    assert read_source("tax").endpoint == declared != "http://10.9.9.9:1"
    assert load_source("tax").endpoint == "http://10.9.9.9:1"  # resolution is a separate, later step


def test_a_soap_source_needs_its_soap_block_and_operations() -> None:
    doc = {"source": "x", "protocol": "soap", "endpoint": "http://h/ws", "soap": {"wsdl": "w"}, "streams": {"s": {
        "path": "/p", "records": "r", "fields": {"id": "string"}, "primary_key": ["id"]}}}
    with pytest.raises(ConfigError, match=r"^x\.yaml: streams\.s\.operation: required key is missing"):
        parse_source(doc, "x.yaml", Path("x.yaml"))
    with pytest.raises(ConfigError, match=r"^x\.yaml: soap: required key is missing"):
        parse_source({**doc, "soap": None}, "x.yaml", Path("x.yaml"))


def test_bad_yaml_and_missing_files_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("a: [", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^a\.yaml: not valid YAML"):
        read_yaml(tmp_path / "a.yaml", "a.yaml")
    with pytest.raises(ConfigError, match=r"^b\.yaml: no such file"):
        read_yaml(tmp_path / "b.yaml", "b.yaml")
