"""Model filters (fennec_core.scoring.filters): parsing, semantics checked against a direct
reading of the cards, and errors that name the problem."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fennec_core.errors import InputError
from fennec_core.records import ModelCard, Ranking
from fennec_core.scoring import filters
from fennec_core.scoring.filters import Condition, FilterError, ModelFilter

LICENSES = ("apache-2.0", "mit", "cc-by-nc-4.0", "not specified")


@st.composite
def cards(draw: st.DrawFn) -> dict[str, ModelCard]:
    """Model cards with log10_params (sometimes missing), a licence list and open_weights."""
    n = draw(st.integers(1, 12))
    out = {}
    for i in range(n):
        meta = {}
        if draw(st.booleans()):
            meta["log10_params"] = draw(st.floats(6, 11, allow_nan=False))
        if draw(st.booleans()):
            meta["embed_dim"] = float(draw(st.sampled_from([256, 384, 768, 1024])))
        attributes = {"open_weights": draw(st.sampled_from(["true", "false"]))}
        lic = draw(st.lists(st.sampled_from(LICENSES), max_size=2, unique=True))
        if lic:
            attributes["license"] = ",".join(lic)
        out[f"m{i}"] = ModelCard(f"m{i}", meta=meta, attributes=attributes)
    return out


numeric_ops = st.sampled_from(["<=", "<", ">=", ">", "=", "!="])


def _direct(card: ModelCard, column: str, op: str, value: float) -> bool:
    x = card.meta.get(column)
    if x is None and f"log10_{column}" in card.meta:
        x = 10 ** card.meta[f"log10_{column}"]
    if x is None:
        return False
    return {"<=": x <= value, "<": x < value, ">=": x >= value, ">": x > value, "=": x == value, "!=": x != value}[op]


@settings(max_examples=60, deadline=None)
@given(cards(), numeric_ops, st.floats(5, 12, allow_nan=False))
def test_numeric_condition_matches_a_direct_reading(zoo, op, exponent):
    value = float(f"{10 ** exponent:.6g}")
    f = filters.parse(f"params{op}{value!r}")
    if not any("log10_params" in c.meta for c in zoo.values()):
        with pytest.raises(FilterError, match="params"):
            filters.check(f, zoo)
        return
    expected = [m for m, c in zoo.items() if _direct(c, "params", op, value)]
    if expected:
        assert filters.select(f, zoo, list(zoo)) == expected
    else:
        with pytest.raises(FilterError, match="no model of the zoo fits"):
            filters.select(f, zoo, list(zoo))


@settings(max_examples=60, deadline=None)
@given(cards(), st.floats(5, 12, allow_nan=False))
def test_le_and_gt_split_the_models_with_a_known_value(zoo, exponent):
    value = 10 ** exponent
    known = [m for m, c in zoo.items() if "log10_params" in c.meta]
    low = [m for m in known if filters.matches(filters.parse(f"params<={value!r}"), zoo[m])]
    high = [m for m in known if filters.matches(filters.parse(f"params>{value!r}"), zoo[m])]
    assert sorted(low + high) == sorted(known) and not set(low) & set(high)


@settings(max_examples=60, deadline=None)
@given(cards(), st.lists(st.sampled_from(LICENSES), min_size=1, max_size=3, unique=True), st.booleans())
def test_conjunction_is_the_intersection(zoo, licenses, open_only):
    a = filters.parse("license=" + ",".join(licenses))
    b = filters.parse("open_weights=true") if open_only else filters.parse("embed_dim>=0")
    both = [m for m, c in zoo.items() if filters.matches(a & b, c)]
    assert both == [m for m, c in zoo.items() if filters.matches(a, c) and filters.matches(b, c)]
    for m in both:  # licence semantics: any listed value, case-insensitive
        assert set(zoo[m].attributes["license"].split(",")) & set(licenses)


@settings(max_examples=60, deadline=None)
@given(cards(), st.lists(st.sampled_from(LICENSES), min_size=1, max_size=2, unique=True))
def test_not_equal_is_the_complement_among_cards_with_a_value(zoo, licenses):
    text = ",".join(licenses)
    eq = {m for m, c in zoo.items() if filters.matches(filters.parse(f"license={text}"), c)}
    ne = {m for m, c in zoo.items() if filters.matches(filters.parse(f"license!={text}"), c)}
    with_value = {m for m, c in zoo.items() if "license" in c.attributes}
    assert eq | ne == with_value and not eq & ne


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_any_text_parses_or_fails_with_one_input_error(text):
    try:
        f = filters.parse(text)
    except InputError as exc:
        assert "\n" not in str(exc).strip()
        return
    assert isinstance(f, ModelFilter)
    assert filters.parse(str(f)) == f  # printing and parsing again gives the same filter


def test_parse_reads_the_syntax():
    f = filters.parse("params<=1e9 & license = apache-2.0, mit and open_weights==true")
    assert f.conditions == (Condition("params", "<=", number=1e9), Condition("license", "=", values=("apache-2.0", "mit")),
                            Condition("open_weights", "=", values=("true",)))
    assert not filters.parse("  ") and filters.parse(None) == ModelFilter()


@pytest.mark.parametrize("text, message", [
    ("params", "COLUMN OP VALUE"), ("params<=", "COLUMN OP VALUE"), ("params<=lots", "not a number"),
    ("params<=inf", "finite"), ("__import__('os')<=1", "COLUMN OP VALUE"), ("x" * 3000, "at most"),
    ("params<=1_000", "not a number"),  # read as table cells are: no underscores
])
def test_bad_filters_say_what_to_write(text, message):
    with pytest.raises(FilterError, match=message):
        filters.parse(text)


def test_check_names_unknown_and_mistyped_columns():
    zoo = {"a": ModelCard("a", meta={"log10_params": 8.0}, attributes={"license": "mit"})}
    with pytest.raises(FilterError, match="no model card of this zoo has a column 'size'.*license, log10_params, params"):
        filters.check(filters.parse("size<=3"), zoo)
    with pytest.raises(FilterError, match="holds text"):
        filters.check(filters.parse("license<=3"), zoo)
    with pytest.raises(FilterError, match="holds numbers"):
        filters.check(filters.parse("params=big"), zoo)


def test_from_options_builds_the_conditions_of_the_rank_flags():
    f = filters.from_options(max_params=1e9, license="apache-2.0,mit", open_weights=True, min_max_tokens=8192,
                             where="embed_dim>=768")
    assert str(f) == ("embed_dim>=768.0 & params<=1000000000.0 & max_tokens>=8192.0 & license=apache-2.0,mit & "
                      "open_weights=true")
    card = ModelCard("m", meta={"log10_params": 8.5, "log2_max_tokens": 13.0, "embed_dim": 768.0},
                     attributes={"license": "MIT", "open_weights": "true"})
    assert filters.matches(f, card)
    assert not filters.matches(f, attrs_evolve(card, meta={"log10_params": 9.5, "log2_max_tokens": 13.0,
                                                           "embed_dim": 768.0}))
    with pytest.raises(FilterError, match="--license"):
        filters.from_options(license=" , ")


def attrs_evolve(card: ModelCard, **changes) -> ModelCard:
    import attrs

    return attrs.evolve(card, **changes)


def test_restrict_keeps_the_order_and_records_the_filter():
    zoo = {m: ModelCard(m, meta={"log10_params": p}) for m, p in (("a", 8.0), ("b", 10.0), ("c", 7.0))}
    ranking = Ranking(("b", "a", "c"), np.array([3.0, 2.0, 1.0]), {"transfer": np.array([1.0, 2.0, 3.0])})
    out = filters.restrict(ranking, filters.parse("params<=1e9"), zoo, top=1)
    assert out.model_ids == ("a",) and out.scores.tolist() == [2.0] and out.parts["transfer"].tolist() == [2.0]
    assert out.info["models_fitting"] == 2 and out.info["filter"] == "params<=1000000000.0"
    assert math.isclose(filters.numeric_value(zoo["b"], "params"), 1e10)
