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


# NFC's awkward cases: combining marks in and out of order, Hangul jamo that compose with the syllable
# before them, a singleton (U+212B), Indic vowel signs that compose, a mark starting a value
_NFC_PARTS = st.sampled_from(["e", "A", "Đ", "ế", " ", "\u0301", "\u0323", "\u0308", "\u030a", "\u0327",
                              "\u1100", "\u1161", "\u11a8", "\uac00", "\u212b", "\u0bc6", "\u0bbe", "\u0344"])


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(st.none(), st.lists(_NFC_PARTS, max_size=5).map("".join)), max_size=6),
       st.integers(0, 2))
def test_clean_text_checks_nfc_on_the_whole_column_and_normalises_every_value_that_needs_it(values, skip):
    """Skipping the normalisation when the column is NFC already gives NFC values all the same, on sliced
    arrays too (the check reads the slice's own bytes)."""
    array = pa.array(["\u0301x\u0301"] * skip + values, pa.string()).slice(skip)
    out = clean_text(array).to_pylist()
    expected = [" ".join(unicodedata.normalize("NFC", v).split()) or None if v is not None else None
                for v in values]
    assert out == expected
