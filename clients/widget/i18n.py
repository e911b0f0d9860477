"""The widget's words in English, Spanish and Brazilian Portuguese, through
gettext. The catalogs are gettext ``.po`` files,
``clients/widget/locales/<lang>/LC_MESSAGES/widget.po``, compiled by Babel
when the widget starts (no ``.mo`` in git, no build step); English is the
source language (the msgids). Numbers go through Babel in the same language.

The language: ``--lang``, else the system's (``LANGUAGE``, ``LC_ALL``,
``LC_MESSAGES``, ``LANG``), else English; "pt", "pt_PT" → pt_BR, "es_MX" → es.
"""

from __future__ import annotations

import functools
import gettext
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LANGUAGES = ("en", "es", "pt_BR")
DOMAIN = "widget"
LOCALES = Path(__file__).resolve().parent / "locales"


def pick_language(wanted: Sequence[str]) -> str:
    """The supported language closest to one of ``wanted`` (POSIX or BCP 47 tags)."""
    for tag in wanted:
        base = tag.replace("-", "_").split(".")[0].split("_")[0].lower()
        if base == "pt":
            return "pt_BR"
        if base in ("es", "en"):
            return base
    return "en"


def system_languages(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The languages the system asks for, most wanted first (gettext's order)."""
    wanted: list[str] = []
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name, "")
        wanted += [v for v in value.split(":") if v and v not in ("C", "POSIX")]
    return wanted


def po_path(lang: str) -> Path:
    return LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalog of ``lang`` (English: the msgids themselves)."""
    if lang == "en":
        return gettext.NullTranslations()
    with po_path(lang).open("rb") as f:
        catalog = read_po(f, locale=lang, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


class Words:
    """One language's words: ``_`` and ``ngettext`` (gettext's names, so
    Babel's extractor finds the messages), and numbers in that language."""

    def __init__(self, lang: str = "en") -> None:
        self.lang = lang if lang in LANGUAGES else "en"
        self.translations = translations(self.lang)
        self.locale = Locale.parse(self.lang)

    def _(self, message: str) -> str:
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.translations.ngettext(singular, plural, n)

    def number(self, n: int) -> str:
        return format_decimal(n, locale=self.locale)


ENGLISH = Words("en")
