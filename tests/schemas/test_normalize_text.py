import unicodedata

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.normalize.text import clean_text, normalize_code, search_key, search_key_scalar

pytestmark = pytest.mark.unit


_SPACES = st.sampled_from([" ", "  ", "\t", "\n", "\r\n", "\f", "\v", "\u00a0", "\u2003", " \t "])
_WORDS = st.sampled_from(["Nguyễn", "Văn", "Đức", "a", "GPXD-05", ""])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.one_of(_WORDS, _SPACES), max_size=8).map("".join), max_size=6))
def test_clean_text_skips_the_replacement_only_when_it_would_change_nothing(values):
    """The fast path (no whitespace run, no tab or newline in the batch) gives what the replacement gives."""
    text = pc.utf8_normalize(pa.array(values, pa.string()), "NFC")
    plain = pc.utf8_trim_whitespace(pc.replace_substring_regex(text, r"\s+", " "))
    expected = pc.if_else(pc.equal(plain, ""), pa.scalar(None, pa.string()), plain)
    assert clean_text(pa.array(values, pa.string())).to_pylist() == expected.to_pylist()


def test_clean_text_is_nfc_with_single_spaces():
    nfd = unicodedata.normalize("NFD", "Nguyễn Văn Đức")
    out = clean_text(pa.array([nfd, "  Trần   Thị\tLan ", "", "   ", None])).to_pylist()
    assert out == ["Nguyễn Văn Đức", "Trần Thị Lan", None, None, None]
    assert unicodedata.is_normalized("NFC", out[0])


@pytest.mark.parametrize("text", ["Nguyễn Văn Đức", "NGUYEN VAN DUC", "nguyễn  văn   đức ",
                                  unicodedata.normalize("NFD", "Nguyễn Văn Đức")])
def test_search_key_forgets_case_diacritics_and_spacing(text):
    assert search_key(pa.array([text])).to_pylist() == ["nguyen van duc"]
    assert search_key_scalar(text) == "nguyen van duc"


def test_search_key_handles_d_with_stroke():
    assert search_key(pa.array(["Đà Nẵng", "đường Đồng Khởi"])).to_pylist() == ["da nang", "duong dong khoi"]


def test_code_is_trimmed_and_upper_case():
    assert normalize_code(pa.array([" ont ", "cs 123456", None])).values.to_pylist() == ["ONT", "CS 123456", None]
