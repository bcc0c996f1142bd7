"""Task YAML → :class:`TaskSpec`: the built-in tasks, user task files, and tasks made from a bare data file.

A task file is plain data; ``include: other.yaml`` (or a built-in task name) pulls in another file, which this one
then deep-merges over (the including file wins). Every parsing error names the YAML file and the offending key,
because a typo in a label or placeholder otherwise surfaces much later as a confusing scoring failure.
Importing this module is cheap: ``datasets`` is only imported when data is actually read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from iclkit.data import loaders
from iclkit.data.spec import SourceSpec, TaskSpec, TemplateSpec
from iclkit.errors import IclkitError, did_you_mean, unknown_name, yaml_problem

TASKS_DIR = Path(__file__).resolve().parent / "tasks"
REQUIRED_KEYS = ("name", "input_fields", "labels", "verbalizer", "template", "source")
OPTIONAL_KEYS = ("description", "channel_template", "hf", "content_free")
TASK_KEYS = REQUIRED_KEYS + OPTIONAL_KEYS
TEMPLATE_KEYS = tuple(f.name for f in dataclasses.fields(TemplateSpec))
SOURCE_KEYS = tuple(f.name for f in dataclasses.fields(SourceSpec))
_FILE_SUFFIXES = (".jsonl", ".json", ".ndjson", ".csv", ".tsv", ".gz")


def task_names() -> list[str]:
    """Names of the built-in tasks (the YAML files shipped in ``iclkit/data/tasks``)."""
    return sorted(p.stem for p in TASKS_DIR.glob("*.yaml"))


def load_task(name_or_path: str, **overrides: Any) -> TaskSpec:
    """A built-in task by name, or a task YAML by path, with optional top-level overrides deep-merged on top.

    ``source="hf"`` is a shortcut that swaps in the task's ``hf:`` block (its HuggingFace hub equivalent).
    """
    path = _task_path(str(name_or_path))
    raw = _read_yaml(path, ())
    if overrides:
        _check_keys(overrides, TASK_KEYS, "load_task overrides")
        if overrides.get("source") == "hf":
            if "hf" not in raw:
                raise IclkitError(f"{path}: source='hf' requested but the task has no 'hf' block")
            overrides = {**overrides, "source": {**raw["hf"], "kind": "hf"}}
            raw = {k: v for k, v in raw.items() if k != "source"}
        raw = deep_merge(raw, overrides)
    return parse_task(raw, where=str(path))


def task_from_file(
    path: str | Path,
    *,
    text_fields: str | Sequence[str],
    label_field: str = "label",
    labels: Sequence[str] | None = None,
    verbalizer: Mapping[str, str] | None = None,
    template: str | TemplateSpec | None = None,
    eval_path: str | Path | None = None,
    id_field: str | None = None,
    field_map: Mapping[str, str] | None = None,
    name: str | None = None,
) -> TaskSpec:
    """A task for a user's JSONL/CSV file given on the command line, with sensible defaults.

    ``path`` is the demonstration pool and, unless ``eval_path`` is given, also the evaluation set. Labels default to
    the distinct values of ``label_field`` in ``path``, in first-appearance order (so an eval label missing from the
    pool is reported, not silently added); the verbalizer defaults to the label names themselves; the template
    defaults to ``"Input: {f}\\nLabel:"`` for one field and one ``"Name: {field}"`` line per field for several.
    """
    fields = (text_fields,) if isinstance(text_fields, str) else tuple(text_fields)
    if not fields:
        raise IclkitError("task_from_file: give at least one text field")
    pool, evaluation = Path(path), Path(eval_path) if eval_path is not None else Path(path)
    kind = "csv" if loaders.file_format(pool) == "csv" else "jsonl"
    source = SourceSpec(kind=kind, splits={"train": str(pool), "eval": str(evaluation)}, label_field=label_field,
                        id_field=id_field, field_map=dict(field_map or {}))
    label_names = tuple(str(x) for x in labels) if labels is not None else _infer_labels(pool, source)
    words = {lab: lab for lab in label_names}
    words.update({str(k): str(v) for k, v in (verbalizer or {}).items()})
    if isinstance(template, TemplateSpec):
        tmpl = template
    else:
        tmpl = TemplateSpec(input=template if template is not None else default_input_template(fields))
    return TaskSpec(name=name or _file_stem(pool), input_fields=fields, labels=label_names,
                    verbalizer=words, template=tmpl, source=source, description=f"user data from {pool}")


def _file_stem(path: Path) -> str:
    """``data/reviews.jsonl.gz`` -> ``reviews``."""
    name = path.name[:-3] if path.name.lower().endswith(".gz") else path.name
    return Path(name).stem


def default_input_template(fields: Sequence[str]) -> str:
    """``"Input: {text}\\nLabel:"`` for one field; ``"Premise: {premise}\\nHypothesis: {hypothesis}\\nLabel:"``."""
    if len(fields) == 1:
        return f"Input: {{{fields[0]}}}\nLabel:"
    lines = [f"{f.replace('_', ' ').capitalize()}: {{{f}}}" for f in fields]
    return "\n".join(lines) + "\nLabel:"


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``; nested mappings merge key by key, anything else (lists too) is replaced."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


# --- reading YAML -----------------------------------------------------------------------------------------------


def _task_path(name_or_path: str) -> Path:
    """A path for anything that looks like one (has a separator or a .yaml suffix), else a built-in task name."""
    looks_like_path = name_or_path.endswith((".yaml", ".yml")) or "/" in name_or_path or "\\" in name_or_path
    if looks_like_path:
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise IclkitError(f"{path}: no such task file")
        return path
    if name_or_path not in task_names():
        raise unknown_name("task", name_or_path, task_names())
    return TASKS_DIR / f"{name_or_path}.yaml"


def _read_yaml(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    """One task file with its includes resolved; local data paths made absolute relative to the file."""
    resolved = path.resolve()
    if resolved in chain:
        raise IclkitError(f"{path}: include cycle: {' -> '.join(str(p) for p in (*chain, resolved))}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise IclkitError(f"{path}: not valid YAML{yaml_problem(exc)}") from None
    except UnicodeDecodeError as exc:
        raise IclkitError(f"{path}: not UTF-8 text (byte {exc.start}); save the task file as UTF-8") from None
    except OSError as exc:
        raise IclkitError(f"{path}: cannot read: {exc}") from exc
    if raw is None:
        raise IclkitError(f"{path}: empty task file")
    if not isinstance(raw, dict):
        raise IclkitError(f"{path}: a task file must be a mapping of keys, not {type(raw).__name__}")
    _absolutize_splits(raw, path.parent)
    includes = raw.pop("include", None)
    if includes is None:
        return raw
    merged: dict[str, Any] = {}
    for inc in [includes] if isinstance(includes, str) else includes or []:
        if not isinstance(inc, str):
            raise IclkitError(f"{path}: include: expected a file name or task name, got {inc!r}")
        merged = deep_merge(merged, _read_yaml(_include_path(inc, path), (*chain, resolved)))
    return deep_merge(merged, raw)


def _include_path(inc: str, including: Path) -> Path:
    """``inc`` relative to the including file; failing that, a built-in task (``sst2`` or ``sst2.yaml``)."""
    candidate = (including.parent / inc).expanduser()
    if candidate.is_file():
        return candidate
    stem = inc.removesuffix(".yaml")
    if stem in task_names():
        return TASKS_DIR / f"{stem}.yaml"
    raise IclkitError(f"{including}: include: no file '{candidate}' and no built-in task '{stem}'"
                      f"{did_you_mean(stem, task_names())}")


def _absolutize_splits(raw: dict[str, Any], base: Path) -> None:
    """Make relative data-file paths in ``source.splits`` relative to the YAML file, not the working directory.

    Only values that look like files (a separator or a data suffix) are touched: split names such as ``train`` or
    ``validation[:10%]`` never do.
    """
    source = raw.get("source")
    splits = source.get("splits") if isinstance(source, dict) else None
    if not isinstance(splits, dict):
        return
    for role, value in splits.items():
        if isinstance(value, str) and ("/" in value or value.lower().endswith(_FILE_SUFFIXES)):
            p = Path(value).expanduser()
            splits[role] = str(p if p.is_absolute() else base / p)


# --- parsing ----------------------------------------------------------------------------------------------------


def parse_task(raw: Mapping[str, Any], *, where: str) -> TaskSpec:
    """Build a TaskSpec from a parsed task mapping; ``where`` (the file) prefixes every error."""
    _check_keys(raw, TASK_KEYS, where)
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise IclkitError(f"{where}: missing key(s) {', '.join(repr(k) for k in missing)}")
    name = _scalar(raw["name"], f"{where}: name")
    labels = _strings(raw["labels"], f"{where}: labels")
    verbalizer = _verbalizer(raw["verbalizer"], labels, f"{where}: verbalizer")
    source = _source(raw["source"], labels, f"{where}: source")
    hub = _source(raw["hf"], labels, f"{where}: hf", default_kind="hf") if raw.get("hf") is not None else None
    channel = raw.get("channel_template")
    extra = {} if raw.get("content_free") is None else {"content_free": _strings(raw["content_free"],
                                                                                f"{where}: content_free")}
    try:
        return TaskSpec(
            name=name,
            input_fields=_strings(raw["input_fields"], f"{where}: input_fields"),
            labels=labels,
            verbalizer=verbalizer,
            template=_template(raw["template"], f"{where}: template"),
            source=source,
            channel_template=None if channel is None else _template(channel, f"{where}: channel_template"),
            description=str(raw.get("description") or ""),
            hf=hub,
            **extra,
        )
    except IclkitError as exc:  # TaskSpec's own checks (placeholders, verbalizer) do not know the file
        raise IclkitError(f"{where}: {exc}") from exc


def _check_keys(raw: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    for key in raw:
        if key not in allowed:
            raise IclkitError(f"{where}: unknown key '{key}'{did_you_mean(str(key), allowed)}; "
                              f"allowed: {', '.join(allowed)}")


def _scalar(value: Any, where: str) -> str:
    """A YAML scalar as text. Booleans are refused: unquoted yes/no/on/off silently become True/False in YAML."""
    if isinstance(value, bool):
        raise IclkitError(f"{where}: {value!r} was read as a YAML boolean; quote it (\"{value}\" or \"yes\"/\"no\")")
    if value is None or isinstance(value, (dict, list)):
        raise IclkitError(f"{where}: expected a string, got {value!r}")
    return str(value)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    """A non-empty YAML list of scalars as a tuple of strings (``~`` in a list stands for the empty string)."""
    if not isinstance(value, list) or not value:
        raise IclkitError(f"{where}: expected a non-empty list, got {value!r}")
    return tuple("" if x is None else _scalar(x, f"{where}[{i}]") for i, x in enumerate(value))


def _mapping(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise IclkitError(f"{where}: expected a mapping, got {value!r}")
    return {_scalar(k, f"{where} key"): _scalar(v, f"{where}.{k}") for k, v in value.items()}


def _verbalizer(value: Any, labels: tuple[str, ...], where: str) -> dict[str, str]:
    words = _mapping(value, where)
    for key in words:
        if key not in labels:
            raise IclkitError(f"{where}: '{key}' is not a task label{did_you_mean(key, labels)}; "
                              f"labels: {', '.join(labels)}")
    return words


def _template(value: Any, where: str) -> TemplateSpec:
    """A template mapping, or a bare string as shorthand for its ``input``."""
    if isinstance(value, str):
        return TemplateSpec(input=value)
    if not isinstance(value, dict):
        raise IclkitError(f"{where}: expected a mapping with keys {', '.join(TEMPLATE_KEYS)}, got {value!r}")
    _check_keys(value, TEMPLATE_KEYS, where)
    if "input" not in value:
        raise IclkitError(f"{where}: missing key 'input'")
    parts = {k: (None if v is None and k == "instruction" else _scalar(v, f"{where}.{k}")) for k, v in value.items()}
    return TemplateSpec(**parts)


def _source(value: Any, labels: tuple[str, ...], where: str, default_kind: str | None = None) -> SourceSpec:
    if not isinstance(value, dict):
        raise IclkitError(f"{where}: expected a mapping with keys {', '.join(SOURCE_KEYS)}, got {value!r}")
    _check_keys(value, SOURCE_KEYS, where)
    kind = value.get("kind", default_kind)
    if kind not in loaders.SOURCE_KINDS:
        raise IclkitError(f"{where}.kind: {'missing' if kind is None else repr(kind)}"
                          f"{did_you_mean(str(kind), loaders.SOURCE_KINDS)}; kinds: {', '.join(loaders.SOURCE_KINDS)}")
    splits = _mapping(value.get("splits"), f"{where}.splits")
    if "eval" not in splits:
        raise IclkitError(f"{where}.splits: needs an 'eval' entry (and 'train' for demonstrations)")
    _check_keys(splits, loaders.ROLES, f"{where}.splits")
    label_map = _mapping(value.get("label_map"), f"{where}.label_map")
    for raw_value, label in label_map.items():
        if label not in labels:
            raise IclkitError(f"{where}.label_map: '{raw_value}' maps to '{label}', not a task label"
                              f"{did_you_mean(label, labels)}; labels: {', '.join(labels)}")
    optional = {k: _scalar(value[k], f"{where}.{k}") for k in ("name", "config", "label_field", "id_field")
                if value.get(k) is not None}
    return SourceSpec(kind=kind, splits=splits, field_map=_mapping(value.get("field_map"), f"{where}.field_map"),
                      label_map=label_map, **optional)


def _infer_labels(path: Path, source: SourceSpec) -> tuple[str, ...]:
    """Distinct label values of a user file in first-appearance order (after the source's label_map)."""
    table = loaders.read_file(path, source.kind)
    column = table.get(source.label_field)
    if column is None:
        raise IclkitError(f"{path}: no label field '{source.label_field}' (columns: {', '.join(table)}); "
                          f"name it with the label field option")
    seen: dict[str, None] = {}
    for i, value in enumerate(column):
        if loaders.is_missing(value):
            raise IclkitError(f"{path} row {i + 1}: missing label field '{source.label_field}'")
        text = loaders.cell_text(value)
        seen.setdefault(source.label_map.get(text, text), None)
    return tuple(seen)
