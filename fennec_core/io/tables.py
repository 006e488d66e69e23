"""Reading and writing the CSV tables Fennec consumes, with errors that name the row.

The history format is a *long* table with a header and at least the columns
``model,task,score``; other columns are allowed and ignored. Files in other layouts (the
published tables copied in ``tests/data``: wide matrices, different column names) are converted
with :func:`convert_table` / ``fennec convert``.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import os
import zlib
from collections.abc import Container, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fennec_core.errors import InputError
from fennec_core.io.files import check_output_path, read_bounded  # noqa: F401 -- check_output_path is public here too
from fennec_core.records import History, ModelCard, TaskCard, read_number

HISTORY_COLUMNS = ("model", "task", "score")


def _open_text(path: str | Path, header: str = ",".join(HISTORY_COLUMNS)) -> str:
    return _decode(_read_bytes(path), path, header)


def _read_bytes(path: str | Path) -> bytes:
    p = Path(path)
    try:
        return read_bounded(p)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise InputError(f"{p}: a damaged gzip file ({exc}); compress the CSV again or give it uncompressed") from None
    except OSError as exc:
        raise InputError(f"{p}: cannot be read ({exc.strerror or exc}); give a readable CSV file") from None


def _decode(data: bytes, path: str | Path, header: str = ",".join(HISTORY_COLUMNS)) -> str:
    p = Path(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8 CSV") from None
    if not text.strip():
        raise InputError(f"{p}: file is empty; expected a header line {header} and rows")
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
            if "field larger than field limit" in str(exc):  # the reader stops before counting that line
                raise InputError(f"{source}: line {reader.line_num + 1}: a field is longer than the limit of "
                                 f"{csv.field_size_limit():,} characters (descriptions included); shorten it") from None
            raise InputError(f"{source}: line {reader.line_num}: not valid CSV ({exc})") from None

    return header, gen()


def _float(value: str | None, what: str, source: str, line: int) -> float:
    if value is None or not value.strip():
        raise InputError(f"{source}: line {line}: {what} is empty; fill it in or drop the row")
    try:
        x = read_number(value)
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
    """Read a history: a CSV long table ``model,task,score`` (extra columns ignored; gzipped too)
    or a Parquet file with those columns (``.parquet``). A CSV of a megabyte or more is parsed
    column-wise by pyarrow (:mod:`fennec_core.io.columnar`), which hands anything it cannot
    reproduce exactly back to the strict reader, so the result and every error stay the same."""
    from fennec_core.io import columnar

    if columnar.is_parquet(path):
        return columnar.read_parquet_history(path)
    data = _read_bytes(path)
    if len(data) >= columnar.COLUMNAR_MIN_BYTES:
        fast = columnar.history_from_csv_bytes(data)
        if fast is not None:
            return fast
    return parse_history(_decode(data, path), str(path))


def as_history(history: Any, what: str = "history") -> History:
    """What the API accepts as a history, as a :class:`History`: a History itself, a CSV path,
    a pandas DataFrame with columns ``model``, ``task``, ``score`` (extra columns ignored), or a
    2-D array of scores, models x tasks, with NaN for missing cells (ids ``"0"``, ``"1"``, ...),
    or a ``scipy.sparse`` matrix or array whose stored entries are the observed cells (zeros
    included; same ids). Anything else is one InputError naming ``what``."""
    if isinstance(history, History):
        return history
    if isinstance(history, str | os.PathLike):
        return read_history(history)
    if type(history).__module__.split(".")[0] == "pandas" and hasattr(history, "columns"):
        return _frame_history(history, what)
    if isinstance(history, np.ndarray) or type(history).__module__.split(".")[0] == "torch":
        return _array_history(history, what)
    if type(history).__module__.split(".")[0] == "scipy" and hasattr(history, "tocoo"):
        return _sparse_history(history, what)
    raise InputError(f"{what} must be a History, a CSV path, a pandas DataFrame with columns model,task,score, a "
                     f"2-D array of scores (models x tasks) or a scipy.sparse matrix, got {type(history).__name__}")


def _sparse_history(matrix: Any, what: str) -> History:
    """A History from a scipy.sparse models x tasks matrix: each stored entry is an observed cell."""
    coo = matrix.tocoo()
    if len(coo.shape) != 2 or 0 in coo.shape or coo.nnz == 0:
        raise InputError(f"{what} sparse matrix must be 2-D (models x tasks) with at least one stored entry, got "
                         f"shape {coo.shape} with {coo.nnz} entries")
    coo.sum_duplicates()
    m, n = coo.shape
    return History.from_cells([str(i) for i in range(m)], [str(j) for j in range(n)], coo.row.astype(np.int64),
                              coo.col.astype(np.int64), coo.data)


def _frame_history(frame: Any, what: str) -> History:
    """A History from a DataFrame's ``model``, ``task``, ``score`` columns, validated row by row."""
    columns = [str(c) for c in frame.columns]
    missing = [c for c in HISTORY_COLUMNS if c not in columns]
    if missing:
        raise InputError(f"{what} DataFrame lacks column(s) {', '.join(missing)}; its columns are "
                         f"{', '.join(columns) or '(none)'} but must include {','.join(HISTORY_COLUMNS)}")
    twice = [c for c in HISTORY_COLUMNS if columns.count(c) > 1]
    if twice:
        raise InputError(f"{what} DataFrame has duplicate column(s) {', '.join(twice)}")
    if len(frame) == 0:
        raise InputError(f"{what} DataFrame has no rows")
    def text(v: Any) -> str:  # None, NaN, pandas' NA and NaT are missing ids
        missing = v is None or (isinstance(v, float) and math.isnan(v)) or type(v).__name__ in ("NAType", "NaTType")
        return "" if missing else str(v).strip()

    triples, seen = [], {}
    for row, (m, t, s) in enumerate(zip(frame["model"], frame["task"], frame["score"], strict=True)):
        ids = [text(m), text(t)]
        if not all(ids):
            raise InputError(f"{what} DataFrame row {row}: empty {'model' if not ids[0] else 'task'} id")
        if isinstance(s, bool | str) or s is None:
            raise InputError(f"{what} DataFrame row {row}: score {s!r} is not a number")
        try:
            x = float(s)
        except (TypeError, ValueError):
            raise InputError(f"{what} DataFrame row {row}: score {s!r} is not a number") from None
        if not math.isfinite(x):
            raise InputError(f"{what} DataFrame row {row}: score is {x}; scores must be finite (drop the row for a "
                             "missing cell)")
        key = (ids[0], ids[1])
        if key in seen:
            raise InputError(f"{what} DataFrame row {row}: duplicate row for model {key[0]!r}, task {key[1]!r} "
                             f"(first at row {seen[key]}); keep one score per pair")
        seen[key] = row
        triples.append((ids[0], ids[1], x))
    return History.from_long(triples)


def _array_history(array: Any, what: str) -> History:
    """A History from a models x tasks array (NaN: missing), ids ``"0"``, ``"1"``, ..."""
    raw = array.detach().cpu().numpy() if hasattr(array, "detach") else array
    try:
        scores = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{what} array must hold numbers, got dtype {getattr(raw, 'dtype', '?')}") from None
    if scores.ndim != 2 or 0 in scores.shape:
        raise InputError(f"{what} array must be 2-D (models x tasks) and non-empty, got shape {scores.shape}")
    if np.isinf(scores).any():
        i, j = np.argwhere(np.isinf(scores))[0]
        raise InputError(f"{what} array: cell [{i}, {j}] is {scores[i, j]}; scores must be finite (NaN for a "
                         "missing cell)")
    mask = ~np.isnan(scores)
    if not mask.any():
        raise InputError(f"{what} array has no observed (non-NaN) cell")
    return History([str(i) for i in range(scores.shape[0])], [str(j) for j in range(scores.shape[1])], scores, mask)


def as_cards(cards: Iterable[ModelCard | TaskCard] | str | os.PathLike[str] | None, kind: str) -> list:
    """Cards given as a list, as a CSV path (``kind``: ``models`` or ``tasks``), or None (none)."""
    if isinstance(cards, str | os.PathLike):
        return read_models(cards) if kind == "models" else read_tasks(cards)
    card = ModelCard if kind == "models" else TaskCard
    if cards is None:
        return []
    if not isinstance(cards, Iterable) or isinstance(cards, bytes | dict):
        raise InputError(f"{kind} must be a list of {card.__name__}s, a CSV path or None, got {type(cards).__name__}")
    out = list(cards)
    bad = [c for c in out if not isinstance(c, card)]
    if bad:
        raise InputError(f"{kind} must hold {card.__name__}s, got {type(bad[0]).__name__} {bad[0]!r:.60}")
    return out


def write_history(history: History, path: str | Path) -> None:
    """Write the observed cells of ``history`` as a long CSV ``model,task,score``."""
    try:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(HISTORY_COLUMNS)
            for m, t, s in history.to_long():
                w.writerow([m, t, repr(s)])
    except OSError as exc:
        raise InputError(f"{path}: cannot write the history here ({exc.strerror or exc}); give a writable file "
                         "path") from None


def _row_id(row: dict[str, str], column: str, seen: Container[str], source: str, line: int) -> str:
    """The id in ``column`` of a table row: non-empty, and not one of ``seen``."""
    value = (row[column] or "").strip()
    if not value:
        raise InputError(f"{source}: line {line}: empty {column} id")
    if value in seen:
        raise InputError(f"{source}: line {line}: {column} {value!r} listed twice")
    return value


def _split_columns(rows: list[tuple[int, dict[str, str]]], columns: Sequence[str]) -> tuple[list[str], list[str]]:
    """``columns`` split into numeric ones (every filled cell reads as a number, even a non-finite
    one, which then fails with its line) and categorical ones (any other text: a license, a task type)."""

    def numeric(value: str) -> bool:  # float's wider syntax: a 1_000 cell stays numeric and is refused
        try:
            float(value)
        except ValueError:
            return False
        return True

    text = [c for c in columns if any((row[c] or "").strip() and not numeric(row[c]) for _, row in rows)]
    return [c for c in columns if c not in text], text


def _card_values(row: dict[str, str], numeric: Sequence[str], text: Sequence[str], source: str,
                 line: int) -> tuple[dict[str, float], dict[str, str]]:
    """A card row's numeric meta features and categorical attributes (empty cells omitted)."""
    meta = {c: _float(row[c], f"column {c!r}", source, line) for c in numeric if (row[c] or "").strip()}
    return meta, {c: row[c].strip() for c in text if (row[c] or "").strip()}


def read_models(path: str | Path, *, allow_code: bool = False) -> list[ModelCard]:
    """Read a models table: ``model`` plus optional ``architecture``, numeric meta columns and
    categorical columns (any column holding text that is not a number, e.g. ``license``).

    An ``architecture`` cell must name data (``timm:``, ``pytorchcv:``): a ``py:`` reference
    would run code from a data file, and is refused unless ``allow_code``.
    """
    from fennec_core.architecture.sources import check_data_reference

    source = str(path)
    header, rows = _rows(_open_text(path), source, ("model",))
    rows = list(rows)
    numeric, text = _split_columns(rows, [h for h in header if h not in ("model", "architecture")])
    cards: list[ModelCard] = []
    seen: set[str] = set()
    for line, row in rows:
        mid = _row_id(row, "model", seen, source, line)
        seen.add(mid)
        meta, attributes = _card_values(row, numeric, text, source, line)
        arch = (row.get("architecture") or "").strip() or None
        if arch is not None:
            check_data_reference(arch, f"{source}: line {line}", allow_code=allow_code)
        cards.append(ModelCard(mid, arch, meta, attributes=attributes))
    return cards


def read_tasks(path: str | Path) -> list[TaskCard]:
    """Read a tasks table: ``task`` plus optional ``num_classes``, ``train_size``, ``description``,
    numeric meta columns and categorical card columns (text such as ``type`` or ``languages``)."""
    source = str(path)
    header, rows = _rows(_open_text(path, "task[,num_classes,train_size,description]"), source, ("task",))
    rows = list(rows)
    special = {"task", "num_classes", "train_size", "description"}
    numeric, text = _split_columns(rows, [h for h in header if h not in special])
    cards: list[TaskCard] = []
    seen: set[str] = set()
    for line, row in rows:
        tid = _row_id(row, "task", seen, source, line)  # empty or listed twice: refused naming the line
        seen.add(tid)

        def opt_int(col: str, line: int = line, row: dict[str, str] = row) -> int | None:
            v = (row.get(col) or "").strip()
            if not v:
                return None
            x = _float(v, f"column {col!r}", source, line)
            if x != int(x) or x < 1:
                raise InputError(f"{source}: line {line}: {col} must be a positive whole number, got {v!r}")
            return int(x)

        meta, attributes = _card_values(row, numeric, text, source, line)
        cards.append(TaskCard(tid, opt_int("num_classes"), opt_int("train_size"),
                              (row.get("description") or "").strip() or None, meta, attributes=attributes))
    return cards


def read_known(path: str | Path) -> dict[str, float]:
    """Read known scores of the new task: a CSV ``model,score`` (warm start)."""
    source = str(path)
    _, rows = _rows(_open_text(path, "model,score"), source, ("model", "score"))
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
    while rows_all and not any(c.strip() for c in rows_all[0]):
        rows_all.pop(0)  # blank lines before the header
    if not rows_all:
        raise InputError(f"{source}: no header line; expected column names on the first line")
    header = [h.strip() for h in rows_all[0]]
    twice = sorted({h for h in header if h and header.count(h) > 1})
    if twice:
        raise InputError(f"{source}: duplicate column name(s) {', '.join(twice)} in the header; rename one of each")
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
        if len(row) != len(header):
            raise InputError(f"{source}: line {line} has {len(row)} fields, header has {len(header)}")
        mid = sep.join(row[idx[c]].strip() for c in model)
        if not mid.strip(sep) or not row[idx[task]].strip():
            raise InputError(f"{source}: line {line}: empty {'model' if not mid.strip(sep) else 'task'} id")
        tid = row[idx[task]].strip()
        if (mid, tid) in seen:
            raise InputError(f"{source}: line {line}: duplicate row for model {mid!r}, task {tid!r} (first at line {seen[(mid, tid)]})")
        seen[(mid, tid)] = line
        triples.append((mid, tid, _float(row[idx[score]], "score", source, line)))
    if not triples:
        raise InputError(f"{source}: no rows")
    return History.from_long(triples)


def read_score_columns(path: str | Path, key_columns: Sequence[str]) -> tuple[list[str], list[tuple[list[str], dict[str, float]]]]:
    """A CSV of numeric columns keyed by ``key_columns`` (e.g. ``Dataset,Model`` then one column
    per transferability method): ``(value columns, [(keys, {column: value}) per row])``, every
    value a finite number (row-numbered errors otherwise)."""
    source = str(path)
    header, rows = _rows(_open_text(path, ",".join(key_columns)), source, key_columns)
    columns = [h for h in header if h not in key_columns]
    out = [([(row[k] or "").strip() for k in key_columns], {c: _float(row[c], f"column {c!r}", source, line)
                                                            for c in columns}) for line, row in rows]
    return columns, out
