"""Identifiers as Vietnamese agencies issue them: tax codes, dependent-unit codes, citizen IDs.

Each is a bijection of an entity index, so two entities never share an identifier and any agency can
compute an entity's identifier without generating the others.
"""

from __future__ import annotations

from stdnum.vn import mst

# Tax-office prefixes whose weighted contributions differ mod 11: for any serial at most two of them
# give a check "digit" of 10, so one of three always yields a valid code.
_TAX_PREFIXES = ("02", "08", "40")
_SERIAL_SPACE = 9_999_999  # serials 0000001..9999999 (stdnum refuses 0000000)
UNKNOWN_BASE = 9_000_000  # enterprise indexes from here on are known to no agency


def _permute(index: int, space: int, multiplier: int, offset: int) -> int:
    """A bijection of [0, space) (multiplier coprime to space) that scatters consecutive indexes."""
    return (index * multiplier + offset) % space


def tax_code(enterprise: int) -> str:
    """The 10-digit tax code (= enterprise code) of enterprise number `enterprise`."""
    if not 0 <= enterprise < _SERIAL_SPACE:
        raise ValueError(f"enterprise index {enterprise} outside [0, {_SERIAL_SPACE})")
    serial = f"{1 + _permute(enterprise, _SERIAL_SPACE, 7_654_321, 1_234_567):07d}"
    for prefix in _TAX_PREFIXES:
        check = mst.calc_check_digit(prefix + serial)
        if len(check) == 1:
            return prefix + serial + check
    raise AssertionError("unreachable: the prefixes cover every residue")  # pragma: no cover


def branch_code(parent_tax_code: str, number: int) -> str:
    """A dependent unit's 13-digit code as written on the wire: `##########-###`."""
    return f"{parent_tax_code}-{number:03d}"


def citizen_id(person: int, birth_province: str, male: bool, birth_year: int) -> str:
    """12 digits: 0 + province of birth (2) + century/sex (1) + year (2) + serial (6).

    The serial is a bijection of the person index below one million, so IDs are unique for pools
    up to that size.
    """
    century = 0 if birth_year < 2000 else 2
    sex_digit = century + (0 if male else 1)
    serial = _permute(person % 1_000_000, 1_000_000, 370_471, 91_919)
    return f"0{birth_province}{sex_digit}{birth_year % 100:02d}{serial:06d}"


def corrupt_check_digit(code: str) -> str:
    """The same code with its check digit changed to a wrong one (for invalid-value faults)."""
    head, tail = code[:9], code[10:]
    good = code[9]
    wrong = str((int(good) + 1) % 10)
    if mst.calc_check_digit(head) == wrong:  # pragma: no cover - cannot happen, digits differ
        wrong = str((int(good) + 2) % 10)
    return head + wrong + tail
