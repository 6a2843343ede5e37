"""Dates in the formats the agency systems write: YYYY-MM-DD, DD/MM/YYYY, DD-MM-YYYY and ISO datetimes.

Arrow's strptime rolls impossible dates over (31/02 becomes 03/03), so each parse is checked against
the day and month that were written.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from schemas.normalize.result import Normalized, as_array, flag, no_errors

# (pattern the text must match, strptime format, where the day and month digits are); an ISO
# datetime keeps its written date part
DATE_FORMATS: tuple[tuple[str, str, int, int], ...] = (
    (r"^\d{4}-\d{2}-\d{2}$", "%Y-%m-%d", 8, 5),
    (r"^\d{2}/\d{2}/\d{4}$", "%d/%m/%Y", 0, 3),
    (r"^\d{2}-\d{2}-\d{4}$", "%d-%m-%Y", 0, 3),
)
_ISO_DATETIME = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}"


def parse_date(values: pa.Array) -> Normalized:
    """date32 values; reason `bad_date` where the text is none of the formats or not a real date."""
    text = as_array(values)
    if pa.types.is_date(text.type):
        return Normalized.ok(pc.cast(text, pa.date32()))
    if pa.types.is_timestamp(text.type):
        return Normalized.ok(pc.cast(text, pa.date32()))
    text = pc.utf8_trim_whitespace(text if pa.types.is_string(text.type) else pc.cast(text, pa.string()))
    iso = pc.fill_null(pc.match_substring_regex(text, _ISO_DATETIME), False)
    if pc.any(iso).as_py():
        text = pc.if_else(iso, pc.utf8_slice_codeunits(text, 0, 10), text)
    result = pa.nulls(len(text), pa.timestamp("s"))
    for pattern, fmt, day_at, month_at in DATE_FORMATS:
        shaped = pc.fill_null(pc.match_substring_regex(text, pattern), False)
        if not pc.any(shaped).as_py():
            continue
        candidate = pc.if_else(shaped, text, pa.scalar(None, pa.string()))
        parsed = pc.strptime(candidate, format=fmt, unit="s", error_is_null=True)
        # a rolled-over date (31/02 -> 03/03) no longer has the day and month that were written
        written_day = pc.cast(pc.utf8_slice_codeunits(candidate, day_at, day_at + 2), pa.int64())
        written_month = pc.cast(pc.utf8_slice_codeunits(candidate, month_at, month_at + 2), pa.int64())
        real = pc.and_(pc.equal(pc.day(parsed), written_day), pc.equal(pc.month(parsed), written_month))
        parsed = pc.if_else(pc.fill_null(real, False), parsed, pa.scalar(None, pa.timestamp("s")))
        result = pc.coalesce(result, parsed)
    error = flag(no_errors(len(text)), pc.and_(pc.is_valid(text), pc.is_null(result)), "bad_date")
    return Normalized(pc.cast(result, pa.date32()), error)
