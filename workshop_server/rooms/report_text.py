"""The words of the room's report (``export.md`` and ``export.html``) in English and French.

The report is read by the organisers and the brand, often printed: a French room's report in French,
with French plurals (``0 idée``, ``2 idées``), percentages (``50 %``) and decimal commas (``1,5``).
:class:`Words` is what :mod:`workshop_server.rooms.exports` writes with; names, texts and dates come
from the room and are never translated.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

__all__ = ["REPORT_LANGUAGES", "Words", "report_language"]

#: The report's languages; a room in another locale gets its report in English.
REPORT_LANGUAGES: Final = ("en", "fr")

NNBSP = "\u202f"  # French puts a narrow no-break space before ":", "%" and the like

_TEXT: Final[dict[str, dict[str, str]]] = {
    "en": {
        "generated": "Report generated on {at}. Phase: {phase}.",
        "brand": "Brand: {brand}.",
        "brief": "Brief",
        "rounds": "Rounds",
        "no_round": "No round was run.",
        "round": "Round {n}: {prompt} ({kind}, {status})",
        "no_dots": "No dots.",
        "by_theme": "By theme:",
        "rank": "Rank",
        "idea": "Idea",
        "theme": "Theme",
        "dots": "Dots",
        "status": "Status",
        "authors": "Authors",
        "score": "Weighted score",
        "criterion_col": "{name} (×{weight})",
        "ideas_status": "Ideas and their status",
        "anonymous": "(anonymous)",
        "hidden": " (hidden by a moderator)",
        "pending": " (awaiting approval)",
        "selection": "Selection",
        "criteria": "Criteria:",
        "criterion": "{name} (weight {weight}): {description}",
        "criterion_bare": "{name} (weight {weight})",
        "evaluation": "Evaluation {n}, closed on {at}, {jurors}:",
        "decision_idea": "{at}: {text} is {status}{who}{note}",
        "decision_theme": "{at}: {text} is {status}{who}{note}",
        "by": " by {name}",
        "note": ": {note}",
        "decisions": "Decisions:",
        "figures": "Figures",
        "participants": "Participants: {n}",
        "ideas": "Ideas (duplicates merged): {n}",
        "notes": "Notes posted: {n}",
        "round_ideas_merged": "{ideas} ({notes} posted, duplicates merged).",
        "participation": "Participation rate: {pct} (participants credited on an idea, hidden ones included)",
        "per_participant": "Ideas per participant: {n}",
        "gini": "Contribution inequality (Gini): {n}",
        "turnout": "Vote turnout: {pct}",
        "no_vote": "Vote turnout: no vote round",
        "satisfaction": "Satisfaction: {average} / 5 ({answers})",
        "contributors": "Contributors",
        "contributor": "Contributor",
        "contributor_n": "Contributor {n}",
        "credit": "Credit for the ideas not hidden by a moderator (the figures count hidden ones too).",
        "ideas_col": "Ideas",
        "shortlisted_col": "Shortlisted",
        "adopted_col": "Adopted",
        "phase.lobby": "lobby",
        "phase.round_open": "round open",
        "phase.round_paused": "round paused",
        "phase.round_closed": "round closed",
        "phase.ended": "ended",
        "kind.ideate": "ideate",
        "kind.vote": "vote",
        "rstatus.open": "open",
        "rstatus.paused": "paused",
        "rstatus.closed": "closed",
    },
    "fr": {
        "generated": "Rapport généré le {at}. Phase\u202f: {phase}.",
        "brand": "Marque\u202f: {brand}.",
        "brief": "Brief",
        "rounds": "Manches",
        "no_round": "Aucune manche n'a eu lieu.",
        "round": "Manche {n}\u202f: {prompt} ({kind}, {status})",
        "no_dots": "Aucune gommette.",
        "by_theme": "Par thème\u202f:",
        "rank": "Rang",
        "idea": "Idée",
        "theme": "Thème",
        "dots": "Gommettes",
        "status": "Statut",
        "authors": "Auteurs",
        "score": "Note pondérée",
        "criterion_col": "{name} (×{weight})",
        "ideas_status": "Les idées et leur statut",
        "anonymous": "(anonyme)",
        "hidden": " (masquée par un modérateur)",
        "pending": " (en attente d'approbation)",
        "selection": "Sélection",
        "criteria": "Critères\u202f:",
        "criterion": "{name} (poids {weight})\u202f: {description}",
        "criterion_bare": "{name} (poids {weight})",
        "evaluation": "Évaluation {n}, close le {at}, {jurors}\u202f:",
        "decision_idea": "{at}\u202f: l'idée «\u202f{text}\u202f» est {status}{who}{note}",
        "decision_theme": "{at}\u202f: le thème «\u202f{text}\u202f» est {status}{who}{note}",
        "by": " par {name}",
        "note": "\u202f: {note}",
        "decisions": "Décisions\u202f:",
        "figures": "Indicateurs",
        "participants": "Participants\u202f: {n}",
        "ideas": "Idées (doublons fusionnés)\u202f: {n}",
        "notes": "Notes postées\u202f: {n}",
        "round_ideas_merged": "{ideas} ({notes} postées, doublons fusionnés).",
        "participation": "Taux de participation\u202f: {pct} (participants crédités d'une idée, "
        "idées masquées comprises)",
        "per_participant": "Idées par participant\u202f: {n}",
        "gini": "Inégalité des contributions (Gini)\u202f: {n}",
        "turnout": "Participation au vote\u202f: {pct}",
        "no_vote": "Participation au vote\u202f: aucune manche de vote",
        "satisfaction": "Satisfaction\u202f: {average} / 5 ({answers})",
        "contributors": "Contributeurs",
        "contributor": "Contributeur",
        "contributor_n": "Contributeur {n}",
        "credit": "Le crédit des idées que les modérateurs n'ont pas masquées (les indicateurs "
        "comptent aussi les idées masquées).",
        "ideas_col": "Idées",
        "shortlisted_col": "Présélectionnées",
        "adopted_col": "Adoptées",
        "phase.lobby": "accueil",
        "phase.round_open": "manche ouverte",
        "phase.round_paused": "manche en pause",
        "phase.round_closed": "manche close",
        "phase.ended": "terminée",
        "kind.ideate": "idées",
        "kind.vote": "vote",
        "rstatus.open": "ouverte",
        "rstatus.paused": "en pause",
        "rstatus.closed": "close",
    },
}

#: Nouns with their plural (English: 1 is singular; French: 0 and 1 are).
_NOUNS: Final[dict[str, dict[str, tuple[str, str]]]] = {
    "en": {
        "idea": ("idea", "ideas"),
        "note": ("note", "notes"),
        "juror": ("juror", "jurors"),
        "answer": ("answer", "answers"),
    },
    "fr": {
        "idea": ("idée", "idées"),
        "note": ("note", "notes"),
        "juror": ("juré", "jurés"),
        "answer": ("réponse", "réponses"),
    },
}

#: What became of an idea (feminine in French) or of a theme (masculine).
_STATUS: Final[dict[str, dict[str, tuple[str, str]]]] = {
    "en": {
        s: (s.replace("_", " "),) * 2
        for s in ("new", "shortlisted", "in_review", "adopted", "declined", "done")
    },
    "fr": {
        "new": ("nouvelle", "nouveau"),
        "shortlisted": ("présélectionnée", "présélectionné"),
        "in_review": ("en examen", "en examen"),
        "adopted": ("adoptée", "adopté"),
        "declined": ("écartée", "écarté"),
        "done": ("réalisée", "réalisé"),
    },
}


_MONTHS: Final = {
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    "fr": (
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ),
}


def report_language(wanted: str | None, room_locale: str) -> str:
    """The report's language: ``wanted`` when it is one of :data:`REPORT_LANGUAGES`, else the room's
    locale when it is, else English."""
    for lang in (wanted, room_locale):
        if lang in REPORT_LANGUAGES:
            return str(lang)
    return "en"


class Words:
    """The report's words in one language (a key of :data:`REPORT_LANGUAGES`)."""

    def __init__(self, lang: str) -> None:
        if lang not in REPORT_LANGUAGES:
            raise ValueError(f"report language {lang!r}")
        self.lang = lang
        self._text = _TEXT[lang]

    def __call__(self, key: str, **values: object) -> str:
        return self._text[key].format(**values) if values else self._text[key]

    def count(self, n: int, noun: str) -> str:
        """``1 idea``, ``2 ideas``; ``0 idée``, ``1 idée``, ``2 idées``."""
        one, many = _NOUNS[self.lang][noun]
        singular = n == 1 if self.lang == "en" else abs(n) < 2
        return f"{n} {one if singular else many}"

    def date(self, at: float | None) -> str:
        """``29 November 2026, 21:39 UTC``; ``29 novembre 2026, 21 h 39 UTC`` (``1er`` for the first day).
        In UTC, said so: the room records no time zone."""
        if at is None:
            return ""
        d = datetime.fromtimestamp(at, UTC)
        month = _MONTHS[self.lang][d.month - 1]
        if self.lang == "fr":
            day = "1er" if d.day == 1 else str(d.day)
            return f"{day} {month} {d.year}, {d.hour}\u00a0h\u00a0{d.minute:02d} UTC"
        return f"{d.day} {month} {d.year}, {d:%H:%M} UTC"

    def number(self, x: float) -> str:
        """``1.5``; ``1,5``."""
        text = str(x)
        return text.replace(".", ",") if self.lang == "fr" else text

    def percent(self, share: float) -> str:
        """``50%``; ``50 %`` (a narrow no-break space)."""
        return f"{share:.0%}" if self.lang == "en" else f"{share * 100:.0f}{NNBSP}%"

    def status(self, value: str, *, theme: bool = False) -> str:
        """An idea's status (``in review``; ``en examen``), or a theme's."""
        feminine, masculine = _STATUS[self.lang][value]
        return masculine if theme else feminine
