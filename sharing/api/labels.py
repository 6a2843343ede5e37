"""Labels of coded values: an answer carries `status_code: "06"` and beside it
`status_code_label: {"vi": ..., "en": ...}`, so a client need not keep the code list itself.

The tax-code status list follows the tax administration's register of taxpayer statuses (Circular
105/2020/TT-BTC); codes 08-10 are in the source's range but their meaning is not confirmed here, so they are
labelled as such rather than guessed.
"""

from __future__ import annotations

from typing import Any

TAX_STATUS: dict[str, tuple[str, str]] = {
    "00": ("Đang hoạt động (đã được cấp giấy chứng nhận đăng ký thuế)",
           "Active (tax registration certificate issued)"),
    "01": ("Ngừng hoạt động và đã hoàn thành thủ tục chấm dứt hiệu lực mã số thuế",
           "Ceased operating; tax code closed"),
    "02": ("Đã chuyển cơ quan thuế quản lý", "Moved to another tax office"),
    "03": ("Ngừng hoạt động nhưng chưa hoàn thành thủ tục chấm dứt hiệu lực mã số thuế",
           "Ceased operating; tax code closure not completed"),
    "04": ("Đang hoạt động (được cấp thông báo mã số thuế)", "Active (tax code notice issued)"),
    "05": ("Tạm ngừng hoạt động, kinh doanh", "Business temporarily suspended"),
    "06": ("Không hoạt động tại địa chỉ đã đăng ký", "Not operating at the registered address"),
    "07": ("Chờ làm thủ tục phá sản", "Awaiting bankruptcy proceedings"),
    "08": ("Mã trạng thái 08 (chưa có nhãn xác nhận)", "Status 08 (label not confirmed)"),
    "09": ("Mã trạng thái 09 (chưa có nhãn xác nhận)", "Status 09 (label not confirmed)"),
    "10": ("Mã trạng thái 10 (chưa có nhãn xác nhận)", "Status 10 (label not confirmed)"),
}

# (dataset, column) -> its code list
CODED: dict[tuple[str, str], dict[str, tuple[str, str]]] = {
    ("taxpayers", "status_code"): TAX_STATUS,
    ("enterprise_profile", "tax_status_code"): TAX_STATUS,
}

LABEL_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["vi", "en"], "additionalProperties": False,
    "properties": {"vi": {"type": "string"}, "en": {"type": "string"}},
    "description": "The meaning of the code beside it, in Vietnamese and English (null: unknown code)",
}


def add_labels(dataset: str, row: dict[str, Any]) -> dict[str, Any]:
    """`row` with a `<column>_label` after each coded column it shows (masked or absent columns get none)."""
    for (name, column), codes in CODED.items():
        if name == dataset and column in row:
            found = codes.get(row[column]) if isinstance(row[column], str) else None
            row[column + "_label"] = {"vi": found[0], "en": found[1]} if found else None
    return row
