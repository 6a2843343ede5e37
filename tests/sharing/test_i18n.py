"""Vietnamese first: every message of the dashboard is in the Vietnamese catalog, compiled by Babel."""

from __future__ import annotations

import re

import pytest

from sharing import i18n

pytestmark = pytest.mark.unit


def test_every_message_of_the_dashboard_is_translated() -> None:
    found = i18n.extracted()
    assert {"Sources", "Quarantined record %(id)s", "Replay this record"} <= found  # templates and routes
    known = i18n.catalog_ids("vi")
    missing = sorted(m for m in found if not known.get(m))
    assert not missing, f"add to sharing/locale/vi/LC_MESSAGES/lienthong.po: {missing}"


def test_placeholders_survive_translation() -> None:
    for message, text in i18n.catalog_ids("vi").items():
        assert sorted(re.findall(r"%\(\w+\)s", message)) == sorted(re.findall(r"%\(\w+\)s", text)), message


def test_vietnamese_by_default_english_on_request() -> None:
    assert i18n.choose_language() == "vi"
    assert i18n.choose_language(accept_language="fr-FR,fr;q=0.9") == "vi"
    assert i18n.choose_language(accept_language="en-GB,en;q=0.8") == "en"
    assert i18n.choose_language(query="en", cookie="vi") == "en"
    assert i18n.choose_language(cookie="en", accept_language="vi") == "en"
    vi, en = i18n.translator("vi"), i18n.translator("en")
    assert vi("Sources") == "Các nguồn" and en("Sources") == "Sources"
    assert vi("%(n)s records", n="1,234") == "1,234 bản ghi"
    assert i18n.translator("xx")("Sources") == "Các nguồn"  # unknown language: the default
