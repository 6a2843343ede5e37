import random

import pyarrow as pa
import pytest
from stdnum.vn import mst

from schemas.normalize.ids import normalize_citizen_id, normalize_party_id, normalize_tax_code

pytestmark = pytest.mark.unit


def test_tax_codes_are_compacted_and_checked():
    result = normalize_tax_code(pa.array(["0100233488", "0314409058-002", "01.00.112.437", "0100233480",
                                          "12345", "0100000000", "0314409058-000", None]))
    assert result.values.to_pylist()[:3] == ["0100233488", "0314409058002", "0100112437"]
    assert result.error.to_pylist() == [None, None, None, "bad_check_digit", "bad_tax_code_format",
                                        "bad_tax_code", "bad_tax_code", None]


def test_vectorised_check_digit_agrees_with_stdnum():
    rng = random.Random(7)
    codes = [f"{rng.randrange(10**10):010d}" for _ in range(5000)]
    codes += [c + f"-{rng.randrange(1, 1000):03d}" for c in codes[:500]]
    errors = normalize_tax_code(pa.array(codes)).error.to_pylist()
    assert [e is None for e in errors] == [mst.is_valid(c) for c in codes]


def test_citizen_id_structure():
    ids = ["001099012345", "079203000001", "00109901234", "101099012345", "000099012345",
           "001499012345", "001299012345", "0010990123ab", None]
    result = normalize_citizen_id(pa.array(ids))
    assert result.error.to_pylist() == [
        None, None, "bad_citizen_id_format", "bad_citizen_id_format", "bad_citizen_id_province",
        "bad_citizen_id_birth",  # century digit 4: born in the 2100s
        "bad_citizen_id_birth",  # 2099
        "bad_citizen_id_format",
        None,  # a missing ID is the suite's business (not-null), never a malformed one
    ]


def test_party_id_picks_the_rule_by_length():
    result = normalize_party_id(pa.array(["001099012345", "0100233488", "0100233480", "0314409058-002"]))
    assert result.error.to_pylist() == [None, None, "bad_check_digit", None]
    assert result.values.to_pylist()[3] == "0314409058002"
