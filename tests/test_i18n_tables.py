"""The web app's string tables (web/i18n.js): every English key has a French text with the same
placeholders, and the other way round. A missing French key shows English on a French page (the board's
"The round is closed." did), and a missing placeholder shows "{name}" or loses the value."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENTRY = re.compile(r'^    "([^"]+)":\s*(.*?),?$')
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def tables() -> dict[str, dict[str, set[str]]]:
    """Locale -> key -> the placeholders of its text (all plural forms together)."""
    source = (REPO / "web" / "i18n.js").read_text(encoding="utf-8")
    body = source[source.index("const STRINGS = {") : source.index("\n};", source.index("const STRINGS = {"))]
    found: dict[str, dict[str, set[str]]] = {}
    locale, open_key = "", ""  # open_key: a plural table written over several lines
    for line in body.splitlines():
        if re.fullmatch(r'  "(\w+)": \{', line):
            locale = line.split('"')[1]
            found[locale] = {}
        elif open_key:
            found[locale][open_key] |= set(PLACEHOLDER.findall(line))
            if re.fullmatch(r"    \},?", line):
                open_key = ""
        elif (entry := ENTRY.match(line)) is not None and locale:
            found[locale][entry.group(1)] = set(PLACEHOLDER.findall(entry.group(2)))
            if entry.group(2) == "{":
                open_key = entry.group(1)
    return found


def test_english_and_french_have_the_same_keys_and_placeholders() -> None:
    found = tables()
    assert set(found) == {"en", "fr"}
    en, fr = found["en"], found["fr"]
    assert len(en) > 500, "the parser found too few keys: has the file's layout changed?"
    assert sorted(set(en) - set(fr)) == [], "English keys without a French text"
    assert sorted(set(fr) - set(en)) == [], "French keys without an English text"
    assert [key for key in en if en[key] != fr[key]] == [], "keys whose placeholders differ"


def test_every_error_code_has_a_text_in_both_languages() -> None:
    """The page shows a refusal as ``error.<code>``, and the server's English message only when the key is
    missing: on a French page, in English (``data_erased`` had none)."""
    from workshop_server import errors

    def codes(cls: type[errors.WorkshopError]) -> set[str]:
        return {cls.code}.union(*(codes(sub) for sub in cls.__subclasses__()))

    found = tables()
    wanted = {f"error.{code}" for code in codes(errors.WorkshopError)}
    assert len(wanted) > 30, "too few error codes found: has the tree changed?"
    assert sorted(wanted - set(found["en"])) == [], "error codes without a text"


def test_french_punctuation_keeps_its_no_break_space() -> None:
    """French puts a space before ":", ";", "?", "!" and "»" (and after "«"): a no-break one, or the
    punctuation mark can start a line of its own on a phone (eight texts had an ordinary space)."""
    source = (REPO / "web" / "i18n.js").read_text(encoding="utf-8")
    start = source.index('  "fr": {')
    french = source[start : source.index("\n};", start)]
    loose = [line.strip() for line in french.splitlines() if re.search(r" [:;?!»]|« ", line)]
    assert loose == [], "French texts with an ordinary space at a punctuation mark"
