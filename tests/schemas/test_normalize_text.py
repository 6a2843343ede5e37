import unicodedata

import pyarrow as pa
import pytest

from schemas.normalize.text import clean_text, normalize_code, search_key, search_key_scalar

pytestmark = pytest.mark.unit


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
