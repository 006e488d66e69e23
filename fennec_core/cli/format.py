"""How the ``fennec`` command shows results: plain-text tables, ranking rows, notes on stderr."""

from __future__ import annotations

import argparse
import sys
from typing import Any

#: Control characters (C0 but newline and tab, DEL, C1) and bidirectional overrides, shown escaped:
#: an id such as ``\x1b]0;pwned\x07`` from a data file must not drive the user's terminal.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if c not in (0x09, 0x0A)}
_CONTROLS.update({c: f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))})


def escape_controls(text: str) -> str:
    """``text`` with control characters written as ``\\xNN`` (newlines and tabs kept)."""
    return text.translate(_CONTROLS)


class EscapingWriter:
    """A text stream that writes through to ``stream`` with control characters escaped: the CLI's
    stdout, so no id, description or plugin output printed as text reaches the terminal raw."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        """Write ``text``, escaped; returns the length of ``text`` as a stream does."""
        self._stream.write(escape_controls(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:  # flush, fileno, isatty, encoding, buffer ...
        return getattr(self._stream, name)


def print_table(headers: list[str], rows: list[list[str]], out: Any = None) -> None:
    """Print ``rows`` under ``headers`` as left-aligned columns with a rule under the header."""
    out = out or sys.stdout
    rows = [[escape_controls(str(c)) for c in r] for r in rows]  # widths of what is shown
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip(), file=out)


def bars(args: argparse.Namespace) -> bool:
    """Whether to draw progress bars: on a terminal only (in a log or a pipe they are thousands
    of carriage-return lines), and never with ``--quiet``. Notes are not bars: :func:`say`."""
    return not args.quiet and sys.stderr.isatty()


def probe_bar(args: argparse.Namespace, total: int) -> Any:
    """A wrapper drawing a bar over the models being probed (:func:`bars` decides), or None."""
    if not bars(args):
        return None
    from tqdm.auto import tqdm

    def progress(ids: Any) -> Any:
        return tqdm(ids, total=total, desc="probe", unit="model", file=sys.stderr)

    return progress


def say(args: argparse.Namespace, msg: str) -> None:
    """A progress line or note on stderr, unless ``--quiet``."""
    if not args.quiet:
        print(escape_controls(msg), file=sys.stderr)


def ranking_rows(ranking: Any, truth: dict[str, float] | None = None) -> tuple[list[str], list[list[str]]]:
    """Table rows of a ranking: predicted score in the task's units with its 90% interval
    when the factorizer gives one, then the normalised final score and its parts. A model
    with an observed score on the task shows that score, not a prediction beside it."""
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
        seen = "observed" in p and p["observed"][r] == p["observed"][r]
        if "predicted" in p:
            row.append("-" if seen else f"{p['predicted'][r]:.4g}")
        if "low" in p:
            row.append("observed" if seen else f"[{p['low'][r]:.4g}, {p['high'][r]:.4g}]")
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
