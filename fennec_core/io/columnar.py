"""Columnar reading of large histories with pyarrow: CSV (also gzipped) and Parquet.

A history of 1.6M rows takes about 12 s through Python's csv module; pyarrow parses it in a
fraction of a second. The columnar path accepts exactly what the strict reader of
:mod:`fennec_core.io.tables` accepts: it checks the same rules vectorised (ids non-empty and
without surrounding white space, scores parsed as finite numbers, one score per pair, fields
within the size limit) and, wherever a rule fails or the input has anything unusual, it answers
``None`` so that the strict reader reads the same bytes and reports the problem with its line.
So the columnar path never changes a result, only how fast a clean one arrives; its tests
compare the two on the same inputs.

Parquet files are read with pyarrow alone (they hold no code; their declared uncompressed
size is bounded before anything is decompressed).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from fennec_core.errors import InputError
from fennec_core.records import History

#: Below this many bytes the strict reader is as fast as importing pyarrow.
COLUMNAR_MIN_BYTES = 1 << 20

#: Python's white space (what ``str.strip`` removes: every ``chr(c).isspace()``; a test checks the
#: list), as a regular-expression character class.
SPACE_CODES = (*range(0x9, 0xE), *range(0x1C, 0x21), 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029,
               0x202F, 0x205F, 0x3000)
_SPACE = "".join(f"\\x{{{c:x}}}" for c in SPACE_CODES)


def _pyarrow() -> Any:
    try:
        import pyarrow  # noqa: F401
        import pyarrow.compute
        import pyarrow.csv
    except ImportError as exc:  # a core dependency: a broken install, said plainly
        raise InputError(f"reading large histories needs pyarrow ({exc}); pip install 'pyarrow>=15'") from None
    return pyarrow


def history_from_csv_bytes(data: bytes) -> History | None:
    """The history in CSV ``data`` (``model,task,score``, extra columns ignored), or None when
    the strict reader must decide (any rule broken, or anything the columnar parse does not
    reproduce exactly)."""
    pa = _pyarrow()
    pc = pa.compute
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        table = pa.csv.read_csv(
            io.BytesIO(data),
            read_options=pa.csv.ReadOptions(use_threads=True, block_size=1 << 24),
            parse_options=pa.csv.ParseOptions(newlines_in_values=True),
            convert_options=pa.csv.ConvertOptions(  # no null spellings: "", "NA" are errors here, as in float()
                column_types={"model": pa.string(), "task": pa.string(), "score": pa.float64()}, null_values=[],
                strings_can_be_null=False, quoted_strings_can_be_null=False, check_utf8=True,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, UnicodeDecodeError):
        return None
    header = table.column_names
    if (len(set(header)) != len(header) or any(h != h.strip() for h in header)
            or not {"model", "task", "score"} <= set(header) or table.num_rows == 0):
        return None
    limit = csv.field_size_limit()
    for name in header:  # a text field past the strict reader's limit goes to it (numbers are short)
        col = table.column(name)
        if pa.types.is_string(col.type) and pc.max(pc.utf8_length(col)).as_py() > limit:
            return None
    ids = {}
    for name in ("model", "task"):
        col = table.column(name).combine_chunks()
        if pc.any(pc.equal(pc.utf8_length(col), 0)).as_py() or pc.any(
                pc.match_substring_regex(col, f"^[{_SPACE}]|[{_SPACE}]$")).as_py():
            return None
        ids[name] = col
    values = table.column("score").combine_chunks().to_numpy(zero_copy_only=False).astype(np.float64)
    if not np.isfinite(values).all():
        return None
    model_ids, task_ids, rows, cols = _encoded(pa, ids["model"], ids["task"])
    if _first_duplicate(rows * len(task_ids) + cols) is not None:
        return None  # a duplicated pair: the strict reader names both lines
    return History.from_cells(model_ids, task_ids, rows, cols, values)


def _encoded(pa: Any, models: Any, tasks: Any) -> tuple[tuple[str, ...], tuple[str, ...], np.ndarray, np.ndarray]:
    """(model ids, task ids, row of each cell, column of each cell) of two id columns, ids in
    first-seen order (as the strict reader numbers them)."""
    out = []
    for col in (models, tasks):
        encoded = pa.compute.dictionary_encode(col)
        out.append((tuple(encoded.dictionary.to_pylist()), encoded.indices.to_numpy(zero_copy_only=False)
                    .astype(np.int64)))
    (model_ids, rows), (task_ids, cols) = out
    return model_ids, task_ids, rows, cols


def _first_duplicate(pair: np.ndarray) -> int | None:
    """A cell index that occurs twice, or None (a sort: far faster than ``np.unique`` at millions)."""
    ordered = np.sort(pair, kind="stable")
    same = ordered[1:][ordered[1:] == ordered[:-1]]
    return int(same[0]) if same.size else None


def is_parquet(path: str | Path) -> bool:
    """Whether ``path`` names a Parquet file (by its name: ``.parquet`` / ``.pq``)."""
    return Path(path).suffix.lower() in (".parquet", ".pq")


def read_parquet_history(path: str | Path) -> History:
    """A history from a Parquet file with columns ``model``, ``task``, ``score`` (others ignored).

    Refused with one line: a file that is not Parquet, a declared uncompressed size past the
    table limit (checked from the footer, before anything is decompressed), missing columns,
    empty or padded ids, scores that are not finite numbers, a pair given twice."""
    from fennec_core.io.files import MAX_TABLE_BYTES

    pa = _pyarrow()
    import pyarrow.parquet as pq

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file; give the path of a Parquet or CSV file")
    limit = int(os.environ.get("FENNEC_MAX_TABLE_BYTES", MAX_TABLE_BYTES))
    try:
        meta = pq.ParquetFile(p).metadata
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{p}: not a readable Parquet file ({exc}); write it again or give a CSV") from None
    declared = sum(meta.row_group(i).column(j).total_uncompressed_size
                   for i in range(meta.num_row_groups) for j in range(meta.num_columns))
    if declared > limit:
        raise InputError(f"{p}: declares {declared:,} bytes uncompressed, more than the {limit:,}-byte limit for "
                         "a table; split it, or raise FENNEC_MAX_TABLE_BYTES")
    names = set(meta.schema.names)
    missing = [c for c in ("model", "task", "score") if c not in names]
    if missing:
        raise InputError(f"{p}: missing column(s) {', '.join(missing)}; its columns are "
                         f"{', '.join(meta.schema.names)} but must contain model, task, score")
    table = pq.read_table(p, columns=["model", "task", "score"])
    if table.num_rows == 0:
        raise InputError(f"{p}: has columns but no rows")
    pc = pa.compute
    ids = {}
    for name in ("model", "task"):
        col = table.column(name)
        if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
            raise InputError(f"{p}: column {name} holds {col.type}, not text ids; write the ids as strings")
        col = col.combine_chunks()
        bad = pc.or_(pc.is_null(col), pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(col)), 0))
        if pc.any(bad).as_py():
            raise InputError(f"{p}: row {int(np.argmax(bad.to_numpy(zero_copy_only=False))) + 1}: empty {name} id")
        ids[name] = pc.utf8_trim_whitespace(col)
    score = table.column("score")
    if not (pa.types.is_floating(score.type) or pa.types.is_integer(score.type)):
        raise InputError(f"{p}: column score holds {score.type}, not numbers; write the scores as numbers")
    values = score.combine_chunks().to_numpy(zero_copy_only=False).astype(np.float64)
    if not np.isfinite(values).all():
        row = int(np.argmax(~np.isfinite(values))) + 1
        raise InputError(f"{p}: row {row}: score is {values[row - 1]}; scores must be finite (drop the row for a "
                         "missing cell)")
    model_ids, task_ids, rows, cols = _encoded(pa, ids["model"], ids["task"])
    dup = _first_duplicate(rows * len(task_ids) + cols)
    if dup is not None:
        model, task = model_ids[dup // len(task_ids)], task_ids[dup % len(task_ids)]
        raise InputError(f"{p}: duplicate rows for model {model!r}, task {task!r}; keep one score per pair")
    return History.from_cells(model_ids, task_ids, rows, cols, values)
