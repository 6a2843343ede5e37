"""Vietnamese names and addresses from Faker's vi_VN word lists, combined by a seeded RNG.

Faker's own generator is slow per call; its lists are what we need, so we draw from them directly.
How a name is written varies per agency record: mostly NFC, some NFD, some without diacritics, some
with doubled or trailing spaces (PROTOCOL.md, Names).
"""

from __future__ import annotations

import random
import unicodedata

from faker.providers.address.vi_VN import Provider as _Address
from faker.providers.person.vi_VN import Provider as _Person

LAST_NAMES: tuple[str, ...] = tuple(_Person.last_names)
MIDDLE_NAMES: tuple[str, ...] = tuple(dict.fromkeys(_Person.middle_names))
FIRST_MALE: tuple[str, ...] = tuple(dict.fromkeys(_Person.first_names_male))
FIRST_FEMALE: tuple[str, ...] = tuple(dict.fromkeys(_Person.first_names_female))
STREETS: tuple[str, ...] = tuple(_Address.streets)
# Faker vi_VN's company formats are a handful of surnames; these read like registered names.
COMPANY_FORMS: dict[str, str] = {
    "TNHH1TV": "Công ty TNHH MTV",
    "TNHH2TV": "Công ty TNHH",
    "CP": "Công ty Cổ phần",
    "DNTN": "Doanh nghiệp tư nhân",
    "HD": "Công ty Hợp danh",
}
_TRADES = (
    "Thương mại", "Xây dựng", "Dịch vụ", "Đầu tư", "Vận tải", "Công nghệ", "Thực phẩm", "Cơ khí",
    "Bất động sản", "Xuất nhập khẩu", "Thủy sản", "Dệt may", "Logistics", "Nông nghiệp",
)
_BRAND_TAILS = ("Phát", "Thịnh", "Long", "An", "Hưng", "Việt", "Tín", "Lộc", "Thành", "Minh")
_DIACRITIC_FREE = str.maketrans({"đ": "d", "Đ": "D"})


def person_name(rng: random.Random, male: bool) -> str:
    first = rng.choice(FIRST_MALE if male else FIRST_FEMALE)
    return f"{rng.choice(LAST_NAMES)} {rng.choice(MIDDLE_NAMES)} {first}"


def company_name(rng: random.Random, enterprise_type: str) -> str:
    brand = f"{rng.choice(FIRST_MALE + FIRST_FEMALE)} {rng.choice(_BRAND_TAILS)}"
    return f"{COMPANY_FORMS[enterprise_type]} {rng.choice(_TRADES)} {brand}"


def street_address(rng: random.Random, commune: str, province: str) -> str:
    return f"Số {rng.randint(1, 399)} {rng.choice(STREETS)}, {commune}, {province}"


def strip_diacritics(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.translate(_DIACRITIC_FREE))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def as_written(rng: random.Random, text: str) -> str:
    """`text` as one agency clerk typed it: NFC mostly, ~5% NFD, ~3% ASCII, ~2% stray spaces."""
    u = rng.random()
    if u < 0.05:
        return unicodedata.normalize("NFD", text)
    if u < 0.08:
        return strip_diacritics(text)
    if u < 0.10:
        return text.replace(" ", "  ", 1) + " "
    return text
