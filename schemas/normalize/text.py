"""Text: Unicode NFC with whitespace collapsed, and a diacritic-free search key."""

from __future__ import annotations

import unicodedata

import pyarrow as pa
import pyarrow.compute as pc

from schemas.normalize.result import Normalized, as_array


def _to_string(values: pa.Array) -> pa.Array:
    return values if pa.types.is_string(values.type) else pc.cast(values, pa.string())


def _collapse_whitespace(text: pa.Array) -> pa.Array:
    """Runs of whitespace to one space. Few values have any to collapse (469 of 25,000 permit investors'
    names): finding them takes a ninth of the time the replacement does, so only they are replaced."""
    needs = pc.fill_null(pc.match_substring_regex(text, r"\s\s|[^\S ]"), False)  # a run, a tab, a newline
    if not pc.any(needs).as_py():
        return text
    replaced = pc.replace_substring_regex(pc.filter(text, needs), r"\s+", " ")
    return pc.replace_with_mask(text, needs, replaced)


def _all_nfc(text: pa.Array) -> bool:
    """Whether every value is NFC already, as agencies' systems mostly write: one check over the values'
    bytes together costs a fifth of normalising them (3.5 ms and 19 ms for 25,000 names). If the
    concatenation is NFC, each value is: a value's own compositions never depend on what precedes it
    (the other way round a value may compose with the one before it; that only means normalising)."""
    _, offsets, data = text.buffers()
    if data is None or len(text) == 0:  # no value has a byte
        return True
    bounds = memoryview(offsets).cast("i")  # int32: `_to_string` gives pa.string()
    body = memoryview(data)[bounds[text.offset]:bounds[text.offset + len(text)]]
    return unicodedata.is_normalized("NFC", str(body, "utf-8"))


def clean_text(values: pa.Array) -> pa.Array:
    """NFC, runs of whitespace to one space, trimmed; an empty result is null."""
    text = _to_string(as_array(values))
    if not _all_nfc(text):
        text = pc.utf8_normalize(text, "NFC")
    text = pc.utf8_trim_whitespace(_collapse_whitespace(text))
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def search_key(values: pa.Array) -> pa.Array:
    """Lower-case, diacritic-free, single-spaced: 'Nguyễn  Văn Đức' and 'NGUYEN VAN DUC' give 'nguyen van duc'.

    `đ`/`Đ` are letters of their own in Unicode (no decomposition), so they are replaced by hand.
    """
    text = pc.utf8_normalize(clean_text(values), "NFD")
    text = pc.replace_substring_regex(text, r"\p{Mn}+", "")
    text = pc.replace_substring(pc.replace_substring(text, "đ", "d"), "Đ", "D")
    return pc.utf8_lower(text)


def search_key_scalar(value: str) -> str:
    """The same key for one Python string (for lookups typed by a person)."""
    text = " ".join(unicodedata.normalize("NFD", value).split())
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    return text.replace("đ", "d").replace("Đ", "D").lower()


def normalize_text(values: pa.Array) -> Normalized:
    return Normalized.ok(clean_text(values))


def normalize_search_key(values: pa.Array) -> Normalized:
    return Normalized.ok(search_key(values))


def normalize_code(values: pa.Array) -> Normalized:
    """A code as written, trimmed and upper-cased (NFC first, so look-alike forms compare equal)."""
    return Normalized.ok(pc.utf8_upper(clean_text(values)))
