"""Read a task's splits into validated :class:`~iclkit.types.Example` lists.

Every source kind goes through ``datasets.load_dataset``: the shipped copies and user JSONL files through the
``json`` builder, CSV/TSV through ``csv``, hub datasets by name. Local files and hub datasets therefore share the
field/label mapping and the validation below, and local files never need the network. ``datasets`` is imported
inside functions so that importing this module stays cheap.

Validation is strict and row-precise, because a silently dropped or mislabelled row changes every accuracy number:
the first problem raises :class:`IclkitError` naming the file, the 1-based row and the field.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from iclkit.data.spec import SourceSpec, TaskSpec
from iclkit.errors import IclkitError, did_you_mean
from iclkit.paths import cache_dir
from iclkit.types import Example

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"
ROLES = ("train", "eval")
LOCAL_KINDS = ("jsonl", "json", "csv")
SOURCE_KINDS = ("builtin", *LOCAL_KINDS, "hf")
_JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")
_CSV_SUFFIXES = (".csv", ".tsv")

Table = dict[str, list[Any]]


def load_split(task: TaskSpec, role: str) -> list[Example]:
    """The examples of ``role`` ("train": the demonstration pool, "eval": the evaluation set), validated."""
    source = task.source
    location = split_location(task, role)
    if source.kind == "hf":
        table, class_names, origin = _read_hub(source, location)
    else:
        table, class_names, origin = read_file(Path(location), source.kind), None, location
    return to_examples(table, task, origin, class_names)


def split_location(task: TaskSpec, role: str) -> str:
    """The file path (local kinds) or split name (hf) that serves ``role`` for ``task``."""
    if role not in ROLES:
        raise IclkitError(f"unknown split role '{role}'{did_you_mean(role, ROLES)}; roles: {', '.join(ROLES)}")
    source = task.source
    if source.kind not in SOURCE_KINDS:
        raise IclkitError(f"task '{task.name}': unknown source kind '{source.kind}'"
                          f"{did_you_mean(source.kind, SOURCE_KINDS)}; kinds: {', '.join(SOURCE_KINDS)}")
    if role not in source.splits:
        need = " (the demonstration pool)" if role == "train" else ""
        raise IclkitError(f"task '{task.name}': source has no '{role}' split{need}; "
                          f"it has: {', '.join(source.splits) or 'none'}")
    split = str(source.splits[role])
    if source.kind == "builtin":
        return str(BUILTIN_DIR / (source.name or task.name) / f"{split}.jsonl.gz")
    return split


def file_format(path: Path, kind: str = "jsonl") -> str:
    """The ``datasets`` builder for a local file: from its suffix (ignoring ``.gz``), else from the source kind."""
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    last = suffixes[-1] if suffixes else ""
    if last in _JSON_SUFFIXES:
        return "json"
    if last in _CSV_SUFFIXES:
        return "csv"
    if kind in LOCAL_KINDS or kind == "builtin":
        return "csv" if kind == "csv" else "json"
    raise IclkitError(f"{path}: cannot tell the file format; use a .jsonl, .json, .csv or .tsv file")


def read_file(path: Path, kind: str = "jsonl") -> Table:
    """Read a local JSON-lines/CSV file (optionally gzipped) into columns, with file-level errors made precise."""
    if not path.exists():
        raise IclkitError(f"{path}: no such file")
    if path.is_dir():
        raise IclkitError(f"{path}: is a directory, not a data file")
    if _is_blank(path):
        raise IclkitError(f"{path}: no rows")
    _check_utf8(path)
    fmt = file_format(path, kind)
    options: dict[str, Any] = {"delimiter": "\t"} if ".tsv" in [s.lower() for s in path.suffixes] else {}
    import datasets

    try:
        with _quiet_progress():
            ds = datasets.load_dataset(fmt, data_files=str(path), split="train",
                                       cache_dir=str(cache_dir() / "datasets"), **options)
    except Exception as exc:  # datasets wraps pyarrow/pandas errors in several layers
        raise _read_error(path, fmt, exc) from exc
    return ds.to_dict()


def to_examples(table: Mapping[str, Sequence[Any]], task: TaskSpec, origin: str,
                class_names: Sequence[str] | None = None) -> list[Example]:
    """Apply the source's field/label maps to a column table and validate every row into an Example.

    ``class_names`` are the names of a hub ``ClassLabel`` label column, used for ids the label_map does not cover.
    """
    source = task.source
    n_rows = len(next(iter(table.values()), []))
    if n_rows == 0:
        raise IclkitError(f"{origin}: no rows")
    mapped = {source.field_map.get(col, col): values for col, values in table.items()}
    label_col = table.get(source.label_field, mapped.get(source.label_field))
    id_col = table.get(source.id_field, mapped.get(source.id_field)) if source.id_field else None
    examples, seen_ids = [], {}
    for i in range(n_rows):
        where = f"{origin} row {i + 1}"
        fields = {f: _field_value(mapped, f, i, where) for f in task.input_fields}
        label = _label_value(label_col, i, where, task, class_names, table)
        ex_id = _id_value(id_col, i, where, source.id_field)
        if ex_id in seen_ids:
            raise IclkitError(f"{where}: duplicate id '{ex_id}' (also row {seen_ids[ex_id] + 1})")
        seen_ids[ex_id] = i
        examples.append(Example(id=ex_id, fields=fields, label=label))
    return examples


def subsample(examples: Sequence[Example], n: int | None, seed: int | None) -> list[Example]:
    """A fixed seeded slice: the first ``n`` of ``numpy.random.default_rng(seed).permutation(len(examples))``.

    Returned in that permuted order. This is how HF ``Dataset.shuffle(seed)`` followed by taking the first ``n``
    rows selects, so ``subsample(eval, 2000, 1)`` reproduces Dai et al.'s evaluation subset on the same rows.
    ``n=None`` or ``n >= len(examples)`` returns every example in its original order; ``seed=None`` takes the first
    ``n`` in file order (to compare with tools that evaluate "the first n").
    """
    if n is None or n >= len(examples):
        return list(examples)
    if n < 0:
        raise IclkitError(f"subsample size must be >= 0, not {n}")
    if seed is None:
        return list(examples[:n])
    import numpy as np

    order = np.random.default_rng(seed).permutation(len(examples))[:n]
    return [examples[int(i)] for i in order]


# --- row validation ---------------------------------------------------------------------------------------------


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _present(table: Mapping[str, Sequence[Any]], i: int) -> str:
    names = [col for col, values in table.items() if not is_missing(values[i])]
    return ", ".join(names) or "no fields"


def _field_value(table: Mapping[str, Sequence[Any]], name: str, i: int, where: str) -> str:
    column = table.get(name)
    value = None if column is None else column[i]
    if is_missing(value):
        raise IclkitError(f"{where}: missing field '{name}' (row has: {_present(table, i)})")
    return cell_text(_scalar_cell(value, f"{where}: field '{name}'"))


def _label_value(column: Sequence[Any] | None, i: int, where: str, task: TaskSpec,
                 class_names: Sequence[str] | None, table: Mapping[str, Sequence[Any]]) -> str:
    source = task.source
    raw = None if column is None else column[i]
    if is_missing(raw):
        raise IclkitError(f"{where}: missing label field '{source.label_field}' (row has: {_present(table, i)})")
    text = cell_text(_scalar_cell(raw, f"{where}: label field '{source.label_field}'"))
    label = source.label_map.get(text)
    if label is None and class_names is not None and isinstance(raw, int) and 0 <= raw < len(class_names):
        label = class_names[raw]
    label = text if label is None else label
    if label not in task.labels:
        via = f" (raw value '{text}')" if label != text else ""
        raise IclkitError(f"{where}: unknown label '{label}'{via}{did_you_mean(label, task.labels)}; "
                          f"task labels: {', '.join(task.labels)}")
    return label


def _id_value(column: Sequence[Any] | None, i: int, where: str, id_field: str | None) -> str:
    if id_field is None:
        return str(i)
    value = None if column is None else column[i]
    if is_missing(value):
        raise IclkitError(f"{where}: missing id field '{id_field}'")
    return cell_text(value)


def _scalar_cell(value: Any, where: str) -> Any:
    """Refuse lists and objects: ``str()`` would turn ``["positive"]`` into a new label "['positive']"."""
    if isinstance(value, (list, tuple, dict)):
        kind = "an object" if isinstance(value, dict) else "a list"
        raise IclkitError(f"{where} is {kind} ({json.dumps(value, ensure_ascii=False)[:60]}); "
                          f"expected text or a number")
    return value


def cell_text(value: Any) -> str:
    """Text of a cell; integral floats (CSV columns with blanks become float) lose their '.0'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else str(value)


# --- file-level errors ------------------------------------------------------------------------------------------


def _open_text(path: Path, mode: str = "rb"):
    return gzip.open(path, mode) if path.suffix.lower() == ".gz" else open(path, mode)


def _is_blank(path: Path) -> bool:
    """True if the file holds only whitespace (read until the first other byte)."""
    try:
        with _open_text(path) as fh:
            while chunk := fh.read(1 << 16):
                if chunk.strip():
                    return False
    except (OSError, EOFError) as exc:
        raise IclkitError(f"{path}: cannot read: {exc}") from exc
    return True


def _check_utf8(path: Path) -> None:
    """Name the first line that is not UTF-8: pyarrow would otherwise fail later without saying where."""
    try:
        with _open_text(path) as fh:
            for lineno, raw in enumerate(fh, 1):
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    raise IclkitError(f"{path} line {lineno}: not UTF-8 text (byte 0x{raw[err.start]:02x} at "
                                      f"column {err.start + 1}); save the file as UTF-8") from None
    except (OSError, EOFError) as exc:
        raise IclkitError(f"{path}: cannot read: {exc}") from exc


def _read_error(path: Path, fmt: str, exc: BaseException) -> IclkitError:
    """Turn a ``datasets`` failure into a message naming the file and, for JSON lines, the first bad line."""
    if fmt == "json":
        bad = _first_bad_json_line(path)
        if bad is not None:
            return IclkitError(f"{path} line {bad[0]}: {bad[1]}")
    cause = _root_cause(exc)
    # how the builders report a file without rows (json: StopIteration; csv with only a header: this ValueError)
    if isinstance(exc, StopIteration) or "corresponds to no data" in cause:
        return IclkitError(f"{path}: no rows")
    return IclkitError(f"{path}: cannot be read as {fmt.upper()}: {cause}")


def _first_bad_json_line(path: Path) -> tuple[int, str] | None:
    """(1-based line number, problem) of the first line that is not a JSON object, or None if all are.

    A file starting with ``[`` is one JSON document (a list of rows), parsed whole to locate its error.
    """
    try:
        with _open_text(path) as fh:
            if fh.read(1 << 12).lstrip()[:1] == b"[":
                fh.seek(0)
                try:
                    json.loads(fh.read().decode("utf-8", errors="replace"))
                except json.JSONDecodeError as err:
                    return err.lineno, f"not valid JSON ({err.msg} at column {err.colno})"
                return None
            fh.seek(0)
            for lineno, raw in enumerate(fh, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    return lineno, "not UTF-8 text"
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as err:
                    return lineno, f"not valid JSON ({err.msg} at column {err.colno})"
                if not isinstance(value, dict):
                    return lineno, f"expected a JSON object, got {type(value).__name__}"
    except (OSError, EOFError):
        return None
    return None


def _root_cause(exc: BaseException) -> str:
    seen: list[BaseException] = [exc]
    while (nxt := seen[-1].__cause__ or seen[-1].__context__) is not None and nxt not in seen:
        seen.append(nxt)
    messages = [str(e) for e in seen if str(e)]
    return messages[-1] if messages else type(exc).__name__


@contextlib.contextmanager
def _quiet_progress() -> Iterator[None]:
    """Hide datasets' "Generating train split" bars while reading local files, restoring the caller's setting."""
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    logger = logging.getLogger("datasets")  # it logs each unreadable file itself; our error says it once
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
        if was_enabled:
            datasets.enable_progress_bars()


# --- hub --------------------------------------------------------------------------------------------------------


def _read_hub(source: SourceSpec, split: str) -> tuple[Table, list[str] | None, str]:
    """Load a hub split by name; also returns the ClassLabel names of the label column, if it has them."""
    if not source.name:
        raise IclkitError("hf source: 'name' (the hub dataset, e.g. 'glue') is required")
    origin = f"hf:{source.name}{'/' + source.config if source.config else ''}[{split}]"
    import datasets

    try:
        ds = datasets.load_dataset(source.name, source.config, split=split)
    except Exception as exc:
        raise IclkitError(f"{origin}: cannot load from the HuggingFace hub: {_root_cause(exc)} (without hub access, "
                          f"use the built-in copy: source kind 'builtin')") from exc
    feature = ds.features.get(source.label_field)
    names = list(feature.names) if isinstance(feature, datasets.ClassLabel) else None
    return ds.to_dict(), names, origin
