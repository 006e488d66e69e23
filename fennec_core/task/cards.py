"""Categorical values a user gives for a new task (``--card type=Retrieval``), merged into its card.

The values land in :attr:`fennec_core.records.TaskCard.attributes`, where the placement and the
baselines read them; the names are those of the zoo's tasks table (``type``, ``languages``, ...).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from fennec_core.errors import InputError
from fennec_core.records import TaskCard

#: The id a new task's card gets when none is given.
NEW_TASK = "new-task"


def parse_card_values(pairs: Iterable[str] | None, flag: str = "--card") -> dict[str, str]:
    """``["type=Retrieval", "languages=deu"]`` as ``{"type": "Retrieval", "languages": "deu"}``;
    a pair without ``=``, an empty name or a name given twice is an InputError."""
    out: dict[str, str] = {}
    for pair in pairs or ():
        name, sep, value = pair.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise InputError(f"{flag} {pair!r}: write NAME=VALUE, e.g. {flag} type=Retrieval or "
                             f"{flag} languages=deu,eng")
        if name in out:
            raise InputError(f"{flag} {name}: given twice; list several values in one, comma-separated "
                             f"({flag} {name}={out[name]},{value})")
        out[name] = value
    return out


def with_card_values(card: TaskCard | None, values: Mapping[str, str] | None) -> TaskCard | None:
    """``card`` (or a new task's bare card) with ``values`` set in its attributes; ``card``
    unchanged when there are none."""
    if not values:
        return card
    if not isinstance(values, Mapping):
        raise InputError(f"card values must be a dict of text, e.g. {{'type': 'Retrieval'}}; got "
                         f"{type(values).__name__}")
    base = card or TaskCard(NEW_TASK)
    return attrs.evolve(base, attributes={**base.attributes, **values})
