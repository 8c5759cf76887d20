"""A sentence's form: how an English sentence the scheduler writes is read back by its form and told in a locale.

A form is a message of the catalogue whose English is the sentence itself, `%(name)s` standing for a part; a part
says what it matches and how it is told (a figure in the locale's numbers, a count with its plural noun, one of a
few words, a name as it is). `api.explanations` lists the forms.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache

from babel.numbers import get_decimal_symbol, get_group_symbol

from api.i18n import DEFAULT_LOCALE, TRANSLATIONS


@dataclass(frozen=True)
class Part:
    """What a placeholder holds: its pattern, how it is told in a locale (None: it cannot be), and an example."""

    pattern: str
    tell: Callable[[str, str], str | None]
    example: str


def kept(text: str, locale: str) -> str:
    """A name (a request, an instrument, a quota) or a program's own words: the same in every locale."""
    return text


@cache
def _separators(locale: str) -> dict[int, str]:
    return {ord("."): get_decimal_symbol(locale), ord(","): get_group_symbol(locale)}


def _number(text: str, locale: str) -> str:
    """The engine's figure with the locale's decimal and group separators, to as many decimals and with its sign
    (Babel's `format_decimal` would take most of the time a facility round's reasons take)."""
    decimals = len(text.partition(".")[2])
    written = f"{abs(float(text)):,.{decimals}f}".translate(_separators(locale))
    return ("+" if text.startswith("+") else "-" if text.startswith("-") else "") + written


def _word(text: str, locale: str) -> str | None:
    """One of a few fixed words, each a message of the catalogue."""
    told = TRANSLATIONS[locale].gettext(text)
    return None if told == text and locale != DEFAULT_LOCALE else told


NAME = Part(r".+?", kept, "P-001-a")
"""What a placeholder holds when its form names no part: a name."""
NUMBER = Part(r"[+-]?\d+(?:\.\d+)?", _number, "1234.5")


def _shifts(text: str, locale: str) -> str:
    """A count of shifts with its noun in the locale's plural form (a gap may be negative)."""
    count = int(text.split(" ", 1)[0])
    return TRANSLATIONS[locale].ngettext("%(num)s shift", "%(num)s shifts", abs(count)) % {
        "num": _number(str(count), locale)
    }


def _rules(text: str, locale: str) -> str:
    count = int(text.split(" ", 1)[0])
    return TRANSLATIONS[locale].ngettext("%(num)s rule", "%(num)s rules", count) % {"num": _number(str(count), locale)}


SHIFTS = Part(r"-?\d+ shifts?", _shifts, "5 shifts")
"""A count of shifts with its noun: told in the locale's plural form of "shift"."""
RULES = Part(r"\d+ rule\(s\)", _rules, "3 rule(s)")
"""A count of the round's rules with its noun ("rule(s)"), told in the locale's plural form."""


def choice(messages: Mapping[str, str]) -> Part:
    """One of a few words as the text has them, each told by its message."""

    def tell(text: str, locale: str) -> str | None:
        return _word(messages[text], locale)

    pattern = "|".join(re.escape(text) for text in sorted(messages, key=len, reverse=True))
    return Part(pattern, tell, next(iter(messages)))


def words(*messages: str) -> Part:
    """One of a few words that are messages themselves."""
    return choice({message: message for message in messages})


@dataclass(frozen=True)
class Form:
    """A sentence's form: its English, a message of the catalogue, and its parts that are not names."""

    message: str
    parts: Mapping[str, Part] = field(default_factory=dict)
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)
    literals: tuple[str, ...] = field(init=False, repr=False, compare=False)
    """The form's own text between its parts: a sentence lacking one of them is not of this form, which is
    quicker to see than the pattern's failure (a facility round's 1,600 distinct reasons, 80 forms)."""

    def __post_init__(self) -> None:
        pieces = re.split(r"%\((\w+)\)s", self.message.replace("%%", "%"))
        regex = "".join(
            re.escape(piece) if index % 2 == 0 else f"(?P<{piece}>{self.parts.get(piece, NAME).pattern})"
            for index, piece in enumerate(pieces)
        )
        object.__setattr__(self, "pattern", re.compile(regex, re.DOTALL))
        object.__setattr__(self, "literals", tuple(piece for piece in pieces[::2] if piece))

    @property
    def example(self) -> str:
        """A sentence of this form, its parts' examples in place."""
        names = re.findall(r"%\((\w+)\)s", self.message)
        return self.message % {name: self.parts.get(name, NAME).example for name in names}

    def tell(self, text: str, locale: str) -> str | None:
        if not all(literal in text for literal in self.literals):
            return None
        matched = self.pattern.fullmatch(text)
        if matched is None:
            return None
        told = {name: self.parts.get(name, NAME).tell(value, locale) for name, value in matched.groupdict().items()}
        if any(value is None for value in told.values()):
            return None
        return TRANSLATIONS[locale].gettext(self.message) % told
