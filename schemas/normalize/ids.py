"""Identifiers: tax codes (MST, python-stdnum's rules, vectorised) and 12-digit citizen IDs.

The check digit is computed over whole arrays with numpy (stdnum.vn.mst works one string at a time,
about 5 µs each); `tests/schemas/test_ids.py` checks both agree.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.normalize import admin_units
from schemas.normalize.result import Normalized, as_array, flag, no_errors

_MST_WEIGHTS = np.array([31, 29, 23, 19, 17, 13, 7, 5, 3], dtype=np.int64)


def compact(values: pa.Array) -> pa.Array:
    """Digits only: separators (space, dash, dot) removed, as `stdnum.vn.mst.compact` does."""
    text = as_array(values)
    if not pa.types.is_string(text.type):
        text = pc.cast(text, pa.string())
    return pc.replace_substring_regex(text, r"[\s\-.]", "")


def _digit_matrix(values: pa.Array, width: int) -> np.ndarray:
    """The first `width` digits of each string as an (n, width) int matrix; callers pass digit-only strings."""
    head = pc.utf8_slice_codeunits(values, 0, width)
    head = pc.fill_null(head, "0" * width)
    head = as_array(pc.cast(head, pa.large_string()))
    offsets = np.frombuffer(head.buffers()[1], dtype=np.int64)[head.offset : head.offset + len(head) + 1]
    data = np.frombuffer(head.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    return data.reshape(-1, width).astype(np.int64) - 48


def mst_check_ok(ten_digits: pa.Array) -> pa.Array:
    """True where digit 10 is the MST check digit of digits 1-9 (`10 - sum(w*d) % 11`)."""
    digits = _digit_matrix(ten_digits, 10)
    expected = 10 - (digits[:, :9] @ _MST_WEIGHTS) % 11  # 10 (remainder 0) never matches a digit
    return pa.array(expected == digits[:, 9])


def normalize_tax_code(values: pa.Array) -> Normalized:
    """Compacted MST (10 digits, or 13 for a dependent unit).

    Reasons: bad_tax_code_format, bad_tax_code (a zero sequence or branch number), bad_check_digit.
    """
    code = compact(values)
    error = no_errors(len(code))
    well_formed = pc.match_substring_regex(code, r"^\d{10}(\d{3})?$")
    error = flag(error, pc.invert(well_formed), "bad_tax_code_format")
    # stdnum's component rules: a zero sequence number, a zero branch suffix
    error = flag(error, pc.equal(pc.utf8_slice_codeunits(code, 2, 9), "0000000"), "bad_tax_code")
    error = flag(
        error,
        pc.and_(pc.equal(pc.utf8_length(code), 13), pc.equal(pc.utf8_slice_codeunits(code, 10, 13), "000")),
        "bad_tax_code",
    )
    checkable = pc.if_else(pc.fill_null(well_formed, False), code, pa.scalar(None, pa.string()))
    error = flag(error, pc.and_(pc.is_valid(checkable), pc.invert(mst_check_ok(checkable))), "bad_check_digit")
    return Normalized(code, error)


def normalize_citizen_id(values: pa.Array, *, today: datetime | None = None) -> Normalized:
    """A 12-digit citizen ID: `0` + province-of-birth code + century/sex digit + birth year + 6 digits.

    Reasons: bad_citizen_id_format, bad_citizen_id_province, bad_citizen_id_birth. The century/sex digit
    0-3 covers births 1900-2099 (even: male, odd: female); a birth year in the future is refused.
    """
    code = compact(values)
    error = no_errors(len(code))
    well_formed = pc.match_substring_regex(code, r"^0\d{11}$")
    error = flag(error, pc.invert(well_formed), "bad_citizen_id_format")
    province = pc.utf8_slice_codeunits(code, 1, 3)
    known = pc.is_in(province, value_set=pa.array(sorted(admin_units.reference().all_province_codes)))
    error = flag(error, pc.and_(pc.is_valid(code), pc.invert(known)), "bad_citizen_id_province")
    checkable = pc.if_else(pc.fill_null(well_formed, False), code, pa.scalar(None, pa.string()))
    digits = _digit_matrix(checkable, 6)
    century_digit = digits[:, 3]
    year = 1900 + 100 * (century_digit // 2) + digits[:, 4] * 10 + digits[:, 5]
    this_year = (today or datetime.now(UTC)).year
    bad_birth = pa.array((century_digit > 3) | (year > this_year))
    error = flag(error, pc.and_(pc.fill_null(well_formed, False), bad_birth), "bad_citizen_id_birth")
    return Normalized(code, error)


def normalize_party_id(values: pa.Array) -> Normalized:
    """An identifier that is a citizen ID (12 digits) or a tax code (10 or 13): the length decides."""
    code = compact(values)
    is_citizen = pc.fill_null(pc.equal(pc.utf8_length(code), 12), False)
    as_citizen = normalize_citizen_id(code)
    as_tax = normalize_tax_code(code)
    return Normalized(code, pc.if_else(is_citizen, as_citizen.error, as_tax.error))
