"""Finding every translatable string in the code and templates, and keeping catalogs in step.

Used by ``python -m kefu.platform.i18n_catalog update`` (a developer command that refreshes
``locale/zh_CN/LC_MESSAGES/messages.po``) and by the test that fails when a UI string has
no Chinese translation.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Collection, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.extract import extract_python as extract_python_calls
from babel.messages.pofile import read_po, write_po

from kefu.platform.i18n import DOMAIN, LOCALE_DIR

PACKAGE_DIR = LOCALE_DIR.parent
TRANSLATED_LOCALES = ("zh_CN",)  # English is the source language

# Calls whose first argument is a message: gettext and friends, plus the domain errors,
# whose message is shown to users.
KEYWORDS: dict[str, tuple[int, ...] | None] = {
    "_": None,
    "gettext": None,
    "N_": None,
    "ngettext": (1, 2),
    "DomainError": None,
    "InvalidInput": None,
    "NotAuthenticated": None,
    "PermissionDenied": None,
    "NotFound": None,
    "Conflict": None,
    "CsrfFailed": None,
    "TooLarge": None,
    "RateLimited": None,
    "Unavailable": None,
}
_MESSAGE_KWARG = re.compile(r"""\bmessage=(["'])((?:\\.|(?!\1).)*)\1""")


def extract_python(
    fileobj: BinaryIO, keywords: Mapping[str, Any], comment_tags: Collection[str], options: Mapping[str, Any]
) -> Iterator[tuple[int, str | None, str | tuple[str, ...], list[str]]]:
    """Babel's Python extractor, plus ``message="..."`` keyword arguments (flash messages)."""
    source = fileobj.read()
    fileobj.seek(0)
    # babel's annotations describe extract()'s output, not the (lineno, funcname, message,
    # comments) tuples its own extractors yield (and extract() consumes).
    yield from extract_python_calls(fileobj, keywords, comment_tags, options)  # type: ignore[misc, arg-type]
    for lineno, line in enumerate(source.decode("utf-8").splitlines(), start=1):
        for match in _MESSAGE_KWARG.finditer(line):
            yield lineno, None, ast.literal_eval(match.group(1) + match.group(2) + match.group(1)), []


METHOD_MAP: list[tuple[str, Any]] = [
    ("**/templates/**.html", "jinja2"),
    ("**/migrations/**", "ignore"),
    ("**.py", extract_python),
]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"}}
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def extract() -> Catalog:
    catalog = Catalog(project="kefu", domain=DOMAIN, fuzzy=False)
    found: Iterator[tuple[str, int, str | tuple[str, ...], list[str], str | None]] = extract_from_dir(
        str(PACKAGE_DIR), METHOD_MAP, OPTIONS, KEYWORDS, strip_comment_tags=True
    )
    for filename, lineno, message, comments, context in found:
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def po_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def load(locale: str) -> Catalog:
    with po_path(locale).open("rb") as handle:
        return read_po(handle, locale=locale)


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def untranslated(locale: str) -> list[str]:
    """Messages in the code that the locale's catalog lacks, leaves empty, or marks fuzzy."""
    catalog = load(locale)
    missing = []
    for message in extract():
        if not message.id:
            continue
        entry = catalog.get(message.id, context=message.context)
        if (
            entry is None
            or entry.fuzzy
            or not entry.string
            or (isinstance(entry.string, tuple) and not all(entry.string))
        ):
            missing.append(message.id if isinstance(message.id, str) else message.id[0])
    return missing


def update(locale: str) -> tuple[int, int]:
    """Merge newly found strings into the locale's catalog; returns (new, obsolete) counts."""
    template = extract()
    path = po_path(locale)
    if path.exists():
        catalog = load(locale)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        catalog = Catalog(locale=locale, domain=DOMAIN, project="kefu")
    before = {m.id for m in catalog if m.id}
    catalog.update(template, no_fuzzy_matching=True)
    after = {m.id for m in catalog if m.id}
    obsolete = len(catalog.obsolete)
    catalog.obsolete.clear()
    catalog.revision_date = datetime.now(UTC)
    with path.open("wb") as handle:
        write_po(handle, catalog, width=0, sort_output=True, omit_header=False)
    return len(after - before), obsolete


def main(argv: list[str]) -> int:
    if argv[1:] == ["update"]:
        for locale in TRANSLATED_LOCALES:
            new, obsolete = update(locale)
            sys.stdout.write(f"{locale}: {new} new, {obsolete} obsolete removed\n")
        return 0
    if argv[1:] == ["check"]:
        status = 0
        for locale in TRANSLATED_LOCALES:
            for message in untranslated(locale):
                sys.stdout.write(f"{locale}: untranslated: {message!r}\n")
                status = 1
        return status
    sys.stderr.write("usage: python -m kefu.platform.i18n_catalog update|check\n")
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
