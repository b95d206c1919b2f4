"""Real-world text in English and French, as phone keyboards and word processors produce it.

``IDEAS`` and ``NAMES`` must be accepted; ``stored`` is what the room keeps and shows (NFC, trimmed,
names with runs of ASCII spaces folded). ``REFUSED_TEXTS`` and ``REFUSED_NAMES`` must be refused with
a message naming the character (``shown``, e.g. ``U+202E RIGHT-TO-LEFT OVERRIDE``).

Invisible characters are written as escapes, so that the reader sees what each sample holds.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    label: str
    typed: str
    expected: str | None = None  # what the room keeps, when it differs from what was typed

    @property
    def stored(self) -> str:
        return self.typed if self.expected is None else self.expected


@dataclass(frozen=True)
class Refused:
    label: str
    typed: str
    shown: str  # how the error message names the refused character

    @property
    def surrogate(self) -> bool:
        """A lone surrogate: no UTF-8 (so no JSON text frame nor msgpack str) can carry it."""
        return any(0xD800 <= ord(ch) <= 0xDFFF for ch in self.typed)


IDEAS: list[Sample] = [
    # Emoji: ZWJ sequences, presentation selectors, skin tones, flags, keycaps.
    Sample("zwj technologist", "Pair programming on Fridays 👩🏽\u200d💻"),
    Sample("zwj rainbow flag", "A Pride stand-up every June 🏳\ufe0f\u200d🌈"),
    Sample("zwj family", "Family day at the office 👨\u200d👩\u200d👧"),
    Sample(
        "flags", "Teams in 🇫🇷 🇨🇦 🇧🇪 🇬🇧 and 🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"
    ),
    Sample("skin tones", "Thumbs up 👍🏿👍🏻 and waves 👋🏽"),
    Sample("keycaps", "Vote 1\ufe0f\u20e3 2\ufe0f\u20e3 or #\ufe0f\u20e3"),
    # Unicode 15 (pink heart, moose, goose): newer than the Unicode database of Python 3.11.
    Sample("newer emoji", "New emoji: 🩷 🫎 🪿"),
    # Persian "books" with a ZERO WIDTH NON-JOINER between the word and its plural suffix.
    Sample("zwnj persian", "کتاب\u200cها را به اشتراک بگذاریم"),
    # French typography: narrow no-break space (U+202F) before ? ! : and inside guillemets, NBSP.
    Sample("narrow nbsp ? !", "Pourquoi pas un café le matin\u202f? On essaie\u202f!"),
    Sample("narrow nbsp :", "Idée\u202f: des réunions debout"),
    Sample("nbsp", "Horaires\u00a0: 9\u00a0h à 17\u00a0h"),
    Sample("guillemets", "«\u202fMoins de réunions, plus de temps\u202f» dit l’équipe"),
    Sample("apostrophes", "L’équipe d’accueil n’a pas d’écran"),
    Sample("ligatures", "Un cœur sur l’œuvre de Lætitia, ŒUVRE"),
    Sample("accented capitals", "École, État, Île-de-France, À bientôt, Ça va, Ê"),
    # Decomposed forms (macOS file names, some keyboards) that NFC composes.
    Sample("decomposed", "Cafe\u0301 de\u0301ca pour l’e\u0301quipe", "Café déca pour l’équipe"),
    Sample("decomposed capitals", "E\u0301te\u0301 a\u0300 la plage, C\u0327a va", "Été à la plage, Ça va"),
    Sample("hangul jamo", "\u1112\u1161\u11ab\u1100\u1173\u11af 회의", "한글 회의"),
    Sample("cjk", "会議を短くする 头脑风暴 會議"),
    Sample("rtl marks", "Shalom שלום\u200f and salam سلام"),
    # A word-processor paste: smart quotes, en and em dashes, ellipsis, bullet, degree, NBSP.
    Sample(
        "word processor paste",
        "“Smart quotes” and ‘single ones’ – en dash — em dash… • bullet, 20\u00a0°C, 50\u00a0%",
    ),
    Sample("multi-line with tabs", "Plan:\n\t1. Ask\n\t2. Listen\n\nMerci à tous\u202f!"),
    Sample("windows line ends", "First line\r\nSecond line", "First line\nSecond line"),
    Sample("surrounding space", " \u00a0Trimmed idea\u202f\n\t", "Trimmed idea"),
]

NAMES: list[Sample] = [
    Sample("accent", "Zoé"),
    Sample("decomposed", "Zoe\u0301", "Zoé"),
    Sample("zwj emoji", "Ana 👩🏽\u200d💻"),
    Sample("flag emoji", "Léa 🏳\ufe0f\u200d🌈"),
    Sample("hyphen", "Jean-François"),
    Sample("non-breaking hyphen", "Anne\u2011Sophie"),
    Sample("apostrophe", "O’Brien"),
    Sample("nbsp kept", "Chloé\u00a0M."),
    Sample("double nbsp kept", "Ana\u00a0\u00a0Maria"),
    Sample("ascii spaces folded", "  Ana   Maria  ", "Ana Maria"),
    Sample("capitals", "ÉLODIE Søren Ærø"),
    Sample("cjk", "马琳"),
    Sample("arabic", "محمد"),
    Sample("zwnj persian", "محمد\u200cرضا"),
]

BIDI: list[tuple[str, str]] = [
    ("\u202a", "U+202A LEFT-TO-RIGHT EMBEDDING"),
    ("\u202b", "U+202B RIGHT-TO-LEFT EMBEDDING"),
    ("\u202c", "U+202C POP DIRECTIONAL FORMATTING"),
    ("\u202d", "U+202D LEFT-TO-RIGHT OVERRIDE"),
    ("\u202e", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    ("\u2066", "U+2066 LEFT-TO-RIGHT ISOLATE"),
    ("\u2067", "U+2067 RIGHT-TO-LEFT ISOLATE"),
    ("\u2068", "U+2068 FIRST STRONG ISOLATE"),
    ("\u2069", "U+2069 POP DIRECTIONAL ISOLATE"),
]

REFUSED_TEXTS: list[Refused] = [
    *(Refused(f"bidi {shown[:6]}", f"Pay {ch}001 evil", shown) for ch, shown in BIDI),
    Refused("nul", "bad\x00byte", "U+0000 NULL"),
    Refused("escape", "\x1b[31mred alert", "U+001B ESCAPE"),
    Refused("bell", "ding\x07", "U+0007 ALERT"),
    Refused("delete", "oops\x7f", "U+007F DELETE"),
    Refused("next line (C1)", "one\x85two", "U+0085 NEXT LINE"),
    Refused("lone surrogate", "half \ud83d an emoji", "U+D83D (a lone surrogate)"),
]

REFUSED_NAMES: list[Refused] = [
    *(Refused(f"bidi {shown[:6]}", f"Ana{ch}Maria", shown) for ch, shown in BIDI),
    Refused("nul", "Ann\x00", "U+0000 NULL"),
    Refused("escape", "\x1b[31mAnn", "U+001B ESCAPE"),
    Refused("newline", "Ana\nMaria", "U+000A LINE FEED"),
    Refused("tab", "Ana\tMaria", "U+0009 CHARACTER TABULATION"),
    Refused("carriage return", "Ana\rMaria", "U+000D CARRIAGE RETURN"),
    Refused("line separator", "Ana\u2028Maria", "U+2028 LINE SEPARATOR"),
    Refused("zero width space", "Ann\u200b", "U+200B ZERO WIDTH SPACE"),
    Refused("markup", "<b>Ann</b>", "U+003C LESS-THAN SIGN"),
    Refused("lone surrogate", "Ann\udc00", "U+DC00 (a lone surrogate)"),
]
