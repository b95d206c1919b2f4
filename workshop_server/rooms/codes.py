"""Room codes: short, typable, with no characters that are easy to confuse (0/O, 1/I/L, 5/S, 2/Z...)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

ALPHABET = "346789ABCDEFGHJKMNPQRTUVWXY"
CODE_LENGTH = 6


def make_code(choice: Callable[[str], str], length: int = CODE_LENGTH) -> str:
    """A room code; ``choice`` picks one character (pass ``secrets.choice``)."""
    return "".join(choice(ALPHABET) for _ in range(length))


def derived_code(seed: str, attempt: int, length: int = CODE_LENGTH) -> str:
    """The ``attempt``-th room code drawn from ``seed`` (a secret keyed hash): the same seed draws the
    same codes, in the same order, on any worker and after a restart."""
    number = int.from_bytes(hashlib.sha256(f"{seed}:{attempt}".encode()).digest(), "big")
    chars = []
    for _ in range(length):
        number, index = divmod(number, len(ALPHABET))
        chars.append(ALPHABET[index])
    return "".join(chars)


def normalise_code(raw: str) -> str:
    """What a person typed, upper-cased, without spaces or dashes."""
    return "".join(ch for ch in raw.upper() if ch not in " -_")
