"""Model filters: rank only the models that fit a user's constraints.

A filter is a conjunction of conditions over model-card columns, written as text
(``params<=1e9 & license=apache-2.0,mit & open_weights=true``) or built from options
(:func:`from_options`: ``--max-params``, ``--license``, ``--open-weights``, ``--min-max-tokens``).
The text is parsed by a small hand-written parser (:func:`parse`), never evaluated as code.

Conditions:

- ``COLUMN OP NUMBER`` with ``OP`` one of ``<= < >= > = !=``: a numeric column, read from the
  card's ``meta``. A card that keeps a column on a log scale (``log10_params``, ``log2_max_tokens``)
  answers for the plain name too: ``params`` is ``10 ** log10_params``, ``max_tokens`` is
  ``2 ** log2_max_tokens``.
- ``COLUMN = a,b`` / ``COLUMN != a,b``: a categorical column (``ModelCard.attributes``), true
  when the card's values (several are comma-separated, :func:`fennec_core.records.attribute_values`)
  include any of ``a, b`` (``=``) or none of them (``!=``); compared case-insensitively.

A model whose card lacks a column a condition reads does not fit that condition (a constraint
cannot be checked on an unknown value); the ranking's info counts them. Conditions join with
``&`` (or the word ``and``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence

import attrs

from fennec_core.errors import InputError
from fennec_core.records import ModelCard, Ranking, attribute_values, read_number

OPS = ("<=", ">=", "!=", "<", ">", "=")
_COND = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*(<=|>=|!=|==|<|>|=)\s*(.*?)\s*$", re.S)
_AND = re.compile(r"\s*&\s*|\s+and\s+", re.I)
_SCALES = (("log10_", 10.0), ("log2_", 2.0))
MAX_FILTER_CHARS = 2000


class FilterError(InputError):
    """A model filter that cannot be parsed or cannot apply to the zoo's cards."""


@attrs.frozen
class Condition:
    """One condition: ``column op value``; ``values`` holds a categorical condition's labels."""

    column: str
    op: str
    number: float | None = None
    values: tuple[str, ...] = ()

    def __str__(self) -> str:
        rhs = ",".join(self.values) if self.values else repr(self.number)
        return f"{self.column}{self.op}{rhs}"


@attrs.frozen
class ModelFilter:
    """A conjunction of :class:`Condition` (empty: every model fits)."""

    conditions: tuple[Condition, ...] = ()

    def __str__(self) -> str:
        return " & ".join(str(c) for c in self.conditions)

    def __and__(self, other: ModelFilter) -> ModelFilter:
        return ModelFilter(self.conditions + other.conditions)

    def __bool__(self) -> bool:
        return bool(self.conditions)


def _number(text: str, where: str) -> float:
    try:
        x = read_number(text)
    except ValueError:
        raise FilterError(f"{where}: {text!r} is not a number (write e.g. 1e9 or 8192)") from None
    if not math.isfinite(x):
        raise FilterError(f"{where}: {text!r} is not a finite number")
    return x


def parse_condition(text: str) -> Condition:
    """One ``column op value`` condition (see the module docstring)."""
    m = _COND.match(text)
    if not m or not m.group(3):
        raise FilterError(f"--where: cannot read {text.strip()!r}; write COLUMN OP VALUE, e.g. params<=1e9 or "
                          "license=apache-2.0,mit (OP one of <= < >= > = !=)")
    column, op, rhs = m.group(1), m.group(2), m.group(3)
    op = "=" if op == "==" else op
    if op in ("<", "<=", ">", ">="):
        return Condition(column, op, number=_number(rhs, f"--where {text.strip()}"))
    values = tuple(v.strip() for v in rhs.split(",") if v.strip())
    if not values:
        raise FilterError(f"--where {text.strip()}: no value after {op}")
    if len(values) == 1:  # a number, or a label that looks like one: the column decides
        try:
            return Condition(column, op, number=_number(values[0], ""), values=values)
        except FilterError:
            pass
    return Condition(column, op, values=values)


def parse(text: str | None) -> ModelFilter:
    """A :class:`ModelFilter` from ``--where`` text; empty text is no filter."""
    if text is None or not text.strip():
        return ModelFilter()
    if len(text) > MAX_FILTER_CHARS:
        raise FilterError(f"--where is {len(text)} characters long; a filter holds at most {MAX_FILTER_CHARS}")
    return ModelFilter(tuple(parse_condition(part) for part in _AND.split(text.strip())))


def from_options(*, max_params: float | None = None, license: str | Sequence[str] | None = None,
                 open_weights: bool = False, min_max_tokens: float | None = None,
                 where: str | ModelFilter | None = None) -> ModelFilter:
    """The filter of the ``rank`` options: each given option adds its condition to ``where``."""
    out = where if isinstance(where, ModelFilter) else parse(where)
    if max_params is not None:
        out = out & ModelFilter((Condition("params", "<=", number=_number(str(max_params), "--max-params")),))
    if min_max_tokens is not None:
        out = out & ModelFilter((Condition("max_tokens", ">=", number=_number(str(min_max_tokens),
                                                                               "--min-max-tokens")),))
    if license:
        names = tuple(v.strip() for v in (license.split(",") if isinstance(license, str) else license) if v.strip())
        if not names:
            raise FilterError("--license: give one or more licences, comma-separated (e.g. apache-2.0,mit)")
        out = out & ModelFilter((Condition("license", "=", values=names),))
    if open_weights:
        out = out & ModelFilter((Condition("open_weights", "=", values=("true",)),))
    return out


def numeric_value(card: ModelCard, column: str) -> float | None:
    """The card's number for ``column``: ``meta[column]``, or its log-scaled ``log10_``/``log2_``
    form raised back; None when the card has neither."""
    if column in card.meta:
        return card.meta[column]
    for prefix, base in _SCALES:
        if prefix + column in card.meta:
            return float(base ** card.meta[prefix + column])
    return None


def _numeric_columns(cards: Iterable[ModelCard]) -> set[str]:
    names = set()
    for c in cards:
        for k in c.meta:
            names.add(k)
            for prefix, _ in _SCALES:
                if k.startswith(prefix):
                    names.add(k[len(prefix):])
    return names


def check(model_filter: ModelFilter, cards: Mapping[str, ModelCard]) -> None:
    """Refuse a condition on a column no card has, or a comparison on a categorical column."""
    numeric = _numeric_columns(cards.values())
    text = {k for c in cards.values() for k in c.attributes}
    for cond in model_filter.conditions:
        if cond.column not in numeric and cond.column not in text:
            known = ", ".join(sorted(numeric | text)) or "none"
            raise FilterError(f"filter {cond}: no model card of this zoo has a column {cond.column!r}; columns: {known}")
        if not cond.values and cond.column not in numeric:
            raise FilterError(f"filter {cond}: {cond.column!r} holds text (e.g. a licence), not numbers; compare it "
                              f"with = or != and a list of values")
        if cond.number is None and cond.column not in text:
            raise FilterError(f"filter {cond}: {cond.column!r} holds numbers; compare it with a number "
                              f"(e.g. {cond.column}<=1e9)")


def _holds(cond: Condition, card: ModelCard) -> bool:
    x = None if cond.number is None else numeric_value(card, cond.column)
    if x is not None:
        return {"<=": x <= cond.number, "<": x < cond.number, ">=": x >= cond.number, ">": x > cond.number,
                "=": x == cond.number, "!=": x != cond.number}[cond.op]
    if not cond.values:
        return False
    have = {v.lower() for v in attribute_values(card.attributes.get(cond.column))}
    if not have:
        return False
    hit = bool(have & {v.lower() for v in cond.values})
    return hit if cond.op == "=" else not hit


def matches(model_filter: ModelFilter, card: ModelCard) -> bool:
    """Whether ``card`` fits every condition (a missing value fits none)."""
    return all(_holds(c, card) for c in model_filter.conditions)


def select(model_filter: ModelFilter, cards: Mapping[str, ModelCard], model_ids: Sequence[str]) -> list[str]:
    """The ids of ``model_ids`` whose cards fit, in the given order (checked first: :func:`check`);
    a filter no model fits is a FilterError saying how many fit each condition."""
    check(model_filter, cards)
    kept = [m for m in model_ids if matches(model_filter, cards.get(m, ModelCard(m)))]
    if model_filter and not kept:
        counts = "; ".join(f"{c}: {sum(_holds(c, cards.get(m, ModelCard(m))) for m in model_ids)}"
                           for c in model_filter.conditions)
        raise FilterError(f"no model of the zoo fits the filter {model_filter} (models fitting each condition: "
                          f"{counts}); loosen it")
    return kept


def restrict(ranking: Ranking, model_filter: ModelFilter, cards: Mapping[str, ModelCard],
             top: int | None = None) -> Ranking:
    """``ranking`` with only the models that fit (their order kept), then its first ``top``; its
    info records the filter and how many models it kept."""
    if not model_filter:
        return ranking if top is None else ranking.top(top)
    kept = select(model_filter, cards, ranking.model_ids)
    pos = {m: i for i, m in enumerate(ranking.model_ids)}
    idx = [pos[m] for m in kept][:top]
    info = {**ranking.info, "filter": str(model_filter), "models_fitting": len(kept),
            "models_ranked": len(ranking.model_ids)}
    return Ranking([ranking.model_ids[i] for i in idx], ranking.scores[idx],
                   {k: v[idx] for k, v in ranking.parts.items()}, ranking.task, info)


class Within:
    """One rank call's model filter (``Fennec.rank(where=...)``): checked on creation against the
    zoo's ``cards``; ``top`` is what to ask the ranking for (every model when filtering), and
    calling it on the ranking keeps the models that fit, then the first ``top`` asked for."""

    def __init__(self, cards: Mapping[str, ModelCard], where: str | ModelFilter | None, top: int | None) -> None:
        self.filter = None if where is None else where if isinstance(where, ModelFilter) else parse(where)
        if self.filter is not None:
            select(self.filter, cards, list(cards))  # an unknown column or an impossible filter fails first
        self.cards, self.wanted = cards, top
        self.top = top if self.filter is None else None

    def __call__(self, ranking: Ranking) -> Ranking:
        """``ranking`` restricted to the models that fit (see :func:`restrict`)."""
        return ranking if self.filter is None else restrict(ranking, self.filter, self.cards, self.wanted)
