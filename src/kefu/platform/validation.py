"""Checks for free text typed by people: names and descriptions that every database stores safely."""

from __future__ import annotations

import unicodedata

from kefu.platform.errors import InvalidInput

_FORBIDDEN = {"Cc", "Cf", "Co", "Cs"}


def clean_name(raw: str, *, field: str = "name", max_length: int = 100) -> str:
    """One line: surrounding and repeated whitespace collapsed; required; no control characters."""
    name = " ".join(raw.split())
    if not name:
        raise InvalidInput("This field is required.", field=field)
    if len(name) > max_length:
        raise InvalidInput("Keep this under %(max)s characters.", field=field, params={"max": max_length})
    if any(unicodedata.category(ch) in _FORBIDDEN for ch in name):
        raise InvalidInput("This field contains characters that are not allowed.", field=field)
    return name


def clean_text(raw: str, *, field: str, max_length: int, required: bool = False) -> str:
    """Several lines allowed; trimmed; no control characters other than line breaks and tabs."""
    text = raw.strip().replace("\r\n", "\n")
    if required and not text:
        raise InvalidInput("This field is required.", field=field)
    if len(text) > max_length:
        raise InvalidInput("Keep this under %(max)s characters.", field=field, params={"max": max_length})
    if any(unicodedata.category(ch) in _FORBIDDEN and ch not in "\n\t" for ch in text):
        raise InvalidInput("This field contains characters that are not allowed.", field=field)
    return text
