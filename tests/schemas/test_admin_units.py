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
