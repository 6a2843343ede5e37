"""Vietnamese first, English one click away: gettext catalogs under sharing/locale, compiled by Babel.

Messages are written in English in the code and templates (`_("Sources")`); `sharing/locale/vi/LC_MESSAGES/
lienthong.po` holds their Vietnamese. English is the messages themselves. The catalogs are compiled with
Babel when first used (no .mo file to go stale beside its .po). Used by the dashboard (sharing/ops) and
available to the lookup API's error messages (`translator(lang)`, `choose_language(...)`).

To add or change a message: write it in the code with `_()`, then
`.venv/bin/python -m sharing.i18n` lists the messages the catalog lacks (the unit test fails on any).
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "lienthong"
LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"
LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English"}
LANG_COOKIE = "lt_lang"


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalog of `lang`; English (the messages as written) for anything else."""
    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if lang == "en" or not path.exists():
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with path.open("rb") as handle:
        catalog = read_po(handle, locale=lang, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def translator(lang: str) -> Callable[..., str]:
    """`_(message, **params)`: the message in `lang`, with `%(name)s` placeholders filled."""
    catalog = translations(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)

    def _(message: str, **params: object) -> str:
        text = catalog.gettext(message)
        return text % params if params else text

    return _


def choose_language(query: str | None = None, cookie: str | None = None,
                    accept_language: str | None = None) -> str:
    """An explicit choice (query, then cookie) wins; then the first of Accept-Language we have; else vi."""
    for explicit in (query, cookie):
        if explicit and explicit.lower()[:2] in LANGUAGES:
            return explicit.lower()[:2]
    for part in (accept_language or "").split(","):
        tag = part.split(";", 1)[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return DEFAULT_LANGUAGE


def catalog_ids(lang: str = "vi") -> dict[str, str]:
    """msgid -> msgstr of a catalog, as written in its .po file."""
    from babel.messages.pofile import read_po

    with (LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as handle:
        catalog = read_po(handle, locale=lang, domain=DOMAIN)
    return {str(m.id): str(m.string) for m in catalog if m.id and isinstance(m.id, str)}


def extracted(roots: Iterable[Path] | None = None) -> set[str]:
    """Every message passed to `_()` in the dashboard's Python and templates (Babel's extractors)."""
    from babel.messages.extract import extract_from_dir

    here = Path(__file__).parent
    method_map = [("**/templates/**.html", "jinja2.ext.babel_extract"), ("**.py", "python")]
    found: set[str] = set()
    for root in roots or (here / "ops",):
        for _file, _line, message, _comments, _context in extract_from_dir(
                str(root), method_map, keywords={"_": None}, comment_tags=()):
            found.add(message if isinstance(message, str) else message[0])
    return found


def main() -> None:
    """Print the messages the Vietnamese catalog lacks or leaves untranslated (exit 1 if any)."""
    known = catalog_ids("vi")
    missing = sorted(m for m in extracted() if not known.get(m))
    for message in missing:
        print(f"msgid {message!r}")
    raise SystemExit(1 if missing else 0)


if __name__ == "__main__":
    main()
