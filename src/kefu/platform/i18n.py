"""UI languages: gettext catalogs read from ``kefu/locale/<lang>/LC_MESSAGES/messages.po``.

Source strings are English; Simplified Chinese is the first translation and the default
UI language. Catalogs are compiled in memory at start-up (no build step, no .mo files in
the tree). The request's language lives in a context variable, so code anywhere can call
:func:`gettext` without passing the request around.
"""

from __future__ import annotations

import gettext as _gettext
import io
from collections.abc import Mapping
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES: tuple[str, ...] = ("zh_CN", "en")
LOCALE_LABELS: dict[str, str] = {"zh_CN": "简体中文", "en": "English"}
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "messages"

_current: ContextVar[str] = ContextVar("kefu_locale", default="zh_CN")


@cache
def translations(locale: str) -> _gettext.NullTranslations:
    po_path = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po_path.exists():
        return _gettext.NullTranslations()
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


def set_locale(locale: str) -> None:
    _current.set(locale if locale in LOCALES else LOCALES[0])


def get_locale() -> str:
    return _current.get()


def gettext(message: str, **params: Any) -> str:
    text = translations(get_locale()).gettext(message)
    return text % params if params else text


def ngettext(singular: str, plural: str, n: int, **params: Any) -> str:
    text = translations(get_locale()).ngettext(singular, plural, n)
    params.setdefault("num", n)
    return text % params


def translate(message: str, params: Mapping[str, Any] | None = None) -> str:
    return gettext(message, **dict(params or {}))


def N_(message: str) -> str:  # the conventional name of the gettext no-op marker
    """Mark a string for extraction; it is translated later, where it is shown."""
    return message


def negotiate(accept_language: str | None, default: str) -> str:
    """Pick a supported locale from an Accept-Language header."""
    if not accept_language:
        return default
    wanted = []
    for part in accept_language.split(","):
        tag, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        if tag:
            wanted.append((weight, tag.strip()))
    for _, tag in sorted(wanted, key=lambda pair: -pair[0]):
        try:
            parsed = Locale.parse(tag.replace("-", "_"))
        except (ValueError, TypeError):
            continue
        if parsed.language == "zh":
            return "zh_CN"
        if parsed.language == "en":
            return "en"
    return default


def html_lang(locale: str) -> str:
    return locale.replace("_", "-")
