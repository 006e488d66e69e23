"""Reading and writing the CSV tables Fennec consumes, with errors that name the row.

The history format is a *long* table with a header and at least the columns
``model,task,score``; other columns are allowed and ignored. Files in other layouts (the
published tables in ``shared/data``: wide matrices, different column names) are converted
with :func:`convert_table` / ``fennec convert``.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Container, Iterable, Sequence
from pathlib import Path

from fennec_core.errors import InputError
from fennec_core.records import History, ModelCard, TaskCard

HISTORY_COLUMNS = ("model", "task", "score")


def _open_text(path: str | Path) -> str:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file; give the path of a CSV file")
    if p.is_dir():
        raise InputError(f"{p}: is a folder, expected a CSV file")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8 CSV") from None
    if not text.strip():
        raise InputError(f"{p}: file is empty; expected a header line {','.join(HISTORY_COLUMNS)} and rows")
    return text


def _rows(text: str, source: str, required: Sequence[str]) -> tuple[list[str], Iterable[tuple[int, dict[str, str]]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise InputError(f"{source}: line 1: not valid CSV ({exc})") from None
    reader.fieldnames = header
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(
            f"{source}: missing column(s) {', '.join(missing)}; the header is "
            f"{','.join(header) or '(none)'} but must contain {','.join(required)} "
            "(convert other layouts with `fennec convert`)"
        )
    if len(set(header)) != len(header):
        dup = sorted({h for h in header if header.count(h) > 1})
        raise InputError(f"{source}: duplicate column name(s) {', '.join(dup)} in the header")

    def gen() -> Iterable[tuple[int, dict[str, str]]]:
        try:
            for row in reader:
                line = reader.line_num
                if None in row:
                    raise InputError(f"{source}: line {line} has more fields than the header ({len(header)})")
                yield line, row
        except csv.Error as exc:
            raise InputError(f"{source}: line {reader.line_num}: not valid CSV ({exc})") from None

    return header, gen()


def _float(value: str | None, what: str, source: str, line: int) -> float:
    if value is None or not value.strip():
        raise InputError(f"{source}: line {line}: {what} is empty; fill it in or drop the row")
    try:
        x = float(value)
    except ValueError:
        raise InputError(f"{source}: line {line}: {what} {value!r} is not a number") from None
    if not math.isfinite(x):
        raise InputError(f"{source}: line {line}: {what} is {value.strip()}; scores must be finite (drop the row for a missing cell)")
    return x


def parse_history(text: str, source: str = "<history>") -> History:
    """Parse long-table CSV text (``model,task,score``) into a :class:`History`."""
    if not text.strip():
        raise InputError(f"{source}: empty; expected a header line {','.join(HISTORY_COLUMNS)} and rows")
    _, rows = _rows(text, source, HISTORY_COLUMNS)
    seen: dict[tuple[str, str], int] = {}
    triples: list[tuple[str, str, float]] = []
    for line, row in rows:
        model, task = (row["model"] or "").strip(), (row["task"] or "").strip()
        if not model or not task:
            raise InputError(f"{source}: line {line}: empty {'model' if not model else 'task'} id")
        score = _float(row["score"], "score", source, line)
        key = (model, task)
        if key in seen:
            raise InputError(
                f"{source}: line {line}: duplicate row for model {model!r}, task {task!r} "
                f"(first at line {seen[key]}); keep one score per pair"
            )
        seen[key] = line
        triples.append((model, task, score))
    if not triples:
        raise InputError(f"{source}: has a header but no rows")
    return History.from_long(triples)


def read_history(path: str | Path) -> History:
    """Read a history CSV (long table ``model,task,score``; extra columns ignored)."""
    return parse_history(_open_text(path), str(path))


def as_history(history: History | str | os.PathLike[str]) -> History:
    """``history`` itself, or the History read from a CSV path (what the API accepts)."""
    return history if isinstance(history, History) else read_history(history)


def as_cards(cards: Iterable[ModelCard | TaskCard] | str | os.PathLike[str] | None, kind: str) -> list:
    """Cards given as a list, as a CSV path (``kind``: ``models`` or ``tasks``), or None (none)."""
    if isinstance(cards, str | os.PathLike):
        return read_models(cards) if kind == "models" else read_tasks(cards)
    return list(cards or [])


def write_history(history: History, path: str | Path) -> None:
    """Write the observed cells of ``history`` as a long CSV ``model,task,score``."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HISTORY_COLUMNS)
        for m, t, s in history.to_long():
            w.writerow([m, t, repr(s)])


def _row_id(row: dict[str, str], column: str, seen: Container[str], source: str, line: int) -> str:
    """The id in ``column`` of a table row: non-empty, and not one of ``seen``."""
    value = (row[column] or "").strip()
    if not value:
        raise InputError(f"{source}: line {line}: empty {column} id")
    if value in seen:
        raise InputError(f"{source}: line {line}: {column} {value!r} listed twice")
    return value


def read_models(path: str | Path) -> list[ModelCard]:
    """Read a models table: ``model`` plus optional ``architecture`` and numeric meta columns."""
    source = str(path)
    header, rows = _rows(_open_text(path), source, ("model",))
    meta_cols = [h for h in header if h not in ("model", "architecture")]
    cards: list[ModelCard] = []
    seen: set[str] = set()
    for line, row in rows:
        mid = _row_id(row, "model", seen, source, line)
        seen.add(mid)
        meta = {c: _float(row[c], f"column {c!r}", source, line) for c in meta_cols if (row[c] or "").strip()}
        arch = (row.get("architecture") or "").strip() or None
        cards.append(ModelCard(mid, arch, meta))
    return cards


def read_tasks(path: str | Path) -> list[TaskCard]:
    """Read a tasks table: ``task`` plus optional ``num_classes``, ``train_size``, ``description``."""
    source = str(path)
    header, rows = _rows(_open_text(path), source, ("task",))
    special = {"task", "num_classes", "train_size", "description"}
    meta_cols = [h for h in header if h not in special]
    cards: list[TaskCard] = []
    for line, row in rows:
        tid = (row["task"] or "").strip()
        if not tid:
            raise InputError(f"{source}: line {line}: empty task id")

        def opt_int(col: str, line: int = line, row: dict[str, str] = row) -> int | None:
            v = (row.get(col) or "").strip()
            if not v:
                return None
            x = _float(v, f"column {col!r}", source, line)
            if x != int(x) or x < 1:
                raise InputError(f"{source}: line {line}: {col} must be a positive whole number, got {v!r}")
            return int(x)

        meta = {c: _float(row[c], f"column {c!r}", source, line) for c in meta_cols if (row[c] or "").strip()}
        cards.append(
            TaskCard(tid, opt_int("num_classes"), opt_int("train_size"), (row.get("description") or "").strip() or None, meta)
        )
    return cards


def read_known(path: str | Path) -> dict[str, float]:
    """Read known scores of the new task: a CSV ``model,score`` (warm start)."""
    source = str(path)
    _, rows = _rows(_open_text(path), source, ("model", "score"))
    out: dict[str, float] = {}
    for line, row in rows:
        mid = _row_id(row, "model", out, source, line)
        out[mid] = _float(row["score"], "score", source, line)
    if not out:
        raise InputError(f"{source}: has a header but no rows")
    return out


def convert_table(
    path: str | Path,
    *,
    model: Sequence[str] | None = None,
    task: str | None = None,
    score: str | None = None,
    wide: bool = False,
    sep: str = "/",
) -> History:
    """Convert a CSV in another layout into a :class:`History`.

    Long layout: ``model`` names one or more columns joined with ``sep`` into the model id
    (PARC's ``Architecture`` + ``Source Dataset``), ``task`` and ``score`` name the others.
    Wide layout (``wide=True``): the first column (or ``model``) holds model ids, every other
    column is a task. Empty cells are missing; a pandas-style unnamed index column is skipped.
    """
    source = str(path)
    text = _open_text(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows_all = list(reader)
    except csv.Error as exc:
        raise InputError(f"{source}: line {reader.line_num}: not valid CSV ({exc})") from None
    header = [h.strip() for h in rows_all[0]]
    reader = iter(rows_all[1:])  # type: ignore[assignment]
    if wide:
        mcol = model[0] if model else header[0]
        if mcol not in header:
            raise InputError(f"{source}: no column {mcol!r}; header is {','.join(header)}")
        mi = header.index(mcol)
        triples = []
        for line, row in enumerate(reader, start=2):
            if not any(c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise InputError(f"{source}: line {line} has {len(row)} fields, header has {len(header)}")
            for j, name in enumerate(header):
                if j == mi or not name or not row[j].strip():
                    continue
                triples.append((row[mi].strip(), name, _float(row[j], f"cell {name!r}", source, line)))
        return History.from_long(triples)
    if not model or not task or not score:
        raise InputError("long-layout conversion needs the model, task and score column names")
    cols = [*model, task, score]
    missing = [c for c in cols if c not in header]
    if missing:
        raise InputError(f"{source}: missing column(s) {', '.join(missing)}; header is {','.join(header)}")
    idx = {c: header.index(c) for c in cols}
    triples = []
    seen: dict[tuple[str, str], int] = {}
    for line, row in enumerate(reader, start=2):
        if not any(c.strip() for c in row):
            continue
        mid = sep.join(row[idx[c]].strip() for c in model)
        tid = row[idx[task]].strip()
        if (mid, tid) in seen:
            raise InputError(f"{source}: line {line}: duplicate row for model {mid!r}, task {tid!r} (first at line {seen[(mid, tid)]})")
        seen[(mid, tid)] = line
        triples.append((mid, tid, _float(row[idx[score]], "score", source, line)))
    if not triples:
        raise InputError(f"{source}: no rows")
    return History.from_long(triples)
