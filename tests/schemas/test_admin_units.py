import pyarrow as pa
import pytest

from schemas.normalize.admin_units import recode, reference

pytestmark = pytest.mark.unit


def _pick() -> tuple[str, str, str, tuple[str, ...]]:
    ref = reference()
    current = sorted(ref.new_communes)[0]
    whole = next(c for c, t in sorted(ref.old_communes.items()) if len(t) == 1)
    split = next(c for c, t in sorted(ref.old_communes.items()) if len(t) > 1)
    return current, whole, split, ref.old_communes[split]


def test_reference_figures_match_its_readme():
    ref = reference()
    assert (len(ref.new_provinces), len(ref.new_communes), len(ref.old_communes)) == (34, 3321, 10047)
    assert sum(len(t) > 1 for t in ref.old_communes.values()) == 460


def test_recoding_current_whole_split_and_unknown():
    current, whole, split, split_targets = _pick()
    assert len(split_targets) > 1
    result = recode(pa.array(["01", "01", "01", "01", "01"]), pa.array(["", "001", "001", "001", None]),
                    pa.array([current, whole, split, "99999", "99999"]))
    out = {k: v.to_pylist() for k, v in result.outputs.items()}
    assert out["admin_legacy"] == [False, True, True, True, False]
    assert out["commune_code"][:3] == [current, reference().old_communes[whole][0], None]
    assert out["admin_review"] == [False, False, True, False, False]  # split: flagged, never guessed
    assert out["commune_code_source"] == [current, whole, split, "99999", "99999"]
    assert result.error.to_pylist() == [None, None, None, "unknown_commune", "unknown_commune"]


def test_old_code_reused_as_a_new_code_is_read_by_generation():
    # 00004 is both an old commune (Trúc Bạch) and a 2025 commune (Ba Đình): the district decides
    result = recode(pa.array(["01", "01"]), pa.array(["", "001"]), pa.array(["00004", "00001"]))
    assert result.outputs["commune_code"].to_pylist() == ["00004", reference().old_communes["00001"][0]]


def _codes() -> tuple[str, str, str]:
    """An old code that is also the same 2025 commune, one that names another commune, one only old."""
    ref = reference()
    same = next(c for c, t in sorted(ref.old_communes.items()) if t == (c,) and c in ref.new_communes)
    other = next(c for c, t in sorted(ref.old_communes.items())
                 if c in ref.new_communes and len(t) == 1 and t[0] != c)
    only_old = next(c for c, t in sorted(ref.old_communes.items()) if c not in ref.new_communes and len(t) == 1)
    return same, other, only_old


def test_pre2025_codes_are_recoded_from_the_commune_alone_whatever_else_the_record_says():
    ref = reference()
    _, other, only_old = _codes()
    # no district, and a province that is wrong or missing: the old commune code decides
    result = recode(pa.array(["99", None]), None, pa.array([other, only_old]), generation="pre2025")
    out = {k: v.to_pylist() for k, v in result.outputs.items()}
    assert out["commune_code"] == [ref.old_communes[other][0], ref.old_communes[only_old][0]]
    assert out["province_code"] == [ref.new_commune_province[ref.old_communes[c][0]] for c in (other, only_old)]
    assert out["admin_legacy"] == [True, True] and out["admin_review"] == [False, False]


def test_a_mixed_source_flags_a_code_that_could_be_either_and_never_guesses():
    ref = reference()
    same, other, only_old = _codes()
    new_only = next(c for c in sorted(ref.new_communes) if c not in ref.old_communes)
    result = recode(None, None, pa.array([same, other, only_old, new_only]), generation="mixed")
    out = {k: v.to_pylist() for k, v in result.outputs.items()}
    assert out["commune_code"] == [same, None, ref.old_communes[only_old][0], new_only]
    assert out["admin_review"] == [False, True, False, False]
    assert out["admin_legacy"] == [False, False, True, False]
    assert result.error.to_pylist() == [None] * 4
    # declared by record date instead: the same ambiguous code is read as its generation says
    dated = recode(None, None, pa.array([other, other]), legacy=pa.array([True, False]))
    assert dated.outputs["commune_code"].to_pylist() == [ref.old_communes[other][0], other]


def test_the_shared_code_space():
    # 3,316 of the 3,321 2025 codes are also old codes; for 144 of them the old commune did not go
    # wholly into the new commune of the same number: those are what a mixed source cannot read
    ref = reference()
    both = [c for c in ref.old_communes if c in ref.new_communes]
    other = [c for c in both if ref.old_communes[c] != (c,)]
    assert (len(both), len(other)) == (3316, 144)
    flagged = recode(None, None, pa.array(both), generation="mixed").outputs["admin_review"]
    assert flagged.to_pylist().count(True) == len(other)


def test_step_by_record_date_reads_codes_before_july_2025_as_pre2025():
    from schemas.transforms import STEP_IMPLEMENTATIONS

    ref = reference()
    _, other, _ = _codes()
    step = STEP_IMPLEMENTATIONS["admin_units_by_date"]
    result = step([pa.array(["30/06/2025", "2025-07-01", "not a date"]), pa.array([other, other, other])])
    assert result.outputs["commune_code"].to_pylist() == [ref.old_communes[other][0], other, None]
    assert result.outputs["admin_review"].to_pylist() == [False, False, True]
