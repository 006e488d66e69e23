"""How the ``fennec`` command shows results: plain-text tables, ranking rows, notes on stderr."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def print_table(headers: list[str], rows: list[list[str]], out: Any = None) -> None:
    """Print ``rows`` under ``headers`` as left-aligned columns with a rule under the header."""
    out = out or sys.stdout
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip(), file=out)


def say(args: argparse.Namespace, msg: str) -> None:
    """A progress line or note on stderr, unless ``--quiet``."""
    if not args.quiet:
        print(msg, file=sys.stderr)


def ranking_rows(ranking: Any, truth: dict[str, float] | None = None) -> tuple[list[str], list[list[str]]]:
    """Table rows of a ranking: predicted score in the task's units with its 90% interval
    when the factorizer gives one, then the normalised final score and its parts."""
    p = ranking.parts
    shown = [k for k in ("transfer", "meta") if k in p]
    headers = ["rank", "model"]
    if "predicted" in p:
        headers.append("predicted")
    if "low" in p:
        headers.append("90% interval")
    headers += ["score", *shown] + (["observed"] if "observed" in p else []) + (["truth"] if truth is not None else [])
    rows = []
    for r, mid in enumerate(ranking.model_ids):
        row = [str(r + 1), mid]
        if "predicted" in p:
            row.append(f"{p['predicted'][r]:.4g}")
        if "low" in p:
            row.append(f"[{p['low'][r]:.4g}, {p['high'][r]:.4g}]")
        row += [f"{ranking.scores[r]:.4f}", *[f"{p[k][r]:.4f}" for k in shown]]
        if "observed" in p:
            row.append("-" if p["observed"][r] != p["observed"][r] else f"{p['observed'][r]:.4g}")
        if truth is not None:
            row.append(f"{truth[mid]:.4g}" if mid in truth else "-")
        rows.append(row)
    return headers, rows


def print_ranking(args: argparse.Namespace, ranking: Any, truth: dict[str, float] | None = None) -> None:
    """A ranking as a table on stdout, its notes on stderr."""
    headers, rows = ranking_rows(ranking, truth)
    print_table(headers, rows)
    for note in ranking.info.get("notes", []):
        say(args, f"note: {note}")
