"""Run configuration: one flat frozen dataclass, loaded from YAML or CLI flags, with ``key=value`` overrides.

An experiment YAML is a base run plus ``variants`` (each a partial run overriding the base) and optional ``seeds``
on a variant (run once per demonstration seed, reported as mean ± std).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from iclkit.errors import IclkitError, did_you_mean, yaml_problem

CALIBRATIONS = ("none", "contextual", "batch")
# Per-query similarity retrievers put the most similar demonstration next to the query.
DEFAULT_ORDERING = {"topk": "similarity", "bm25": "similarity", "dpp": "similarity", "votek": "similarity",
                    "mdl": "similarity", "epr": "similarity"}


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one evaluation run. Options that change results are all here (and in summary.json)."""

    name: str = "run"
    task: str = "sst2"                      # built-in task name or task YAML path
    data_file: str | None = None            # user JSONL/CSV: demonstration pool (and eval set if no eval_file)
    eval_file: str | None = None
    text_fields: tuple[str, ...] = ("text",)
    label_field: str = "label"
    model: str = "gemma3-270m"
    backend: str = "hf"                     # hf | llamacpp | openai | vllm (iclkit.lm.backends)
    backend_options: Mapping[str, Any] = field(default_factory=dict)
    shots: int = 8
    retriever: str = "random"
    retriever_options: Mapping[str, Any] = field(default_factory=dict)
    ordering: str | None = None             # None: similarity for topk/bm25, as retrieved otherwise
    scorer: str = "direct"
    scorer_options: Mapping[str, Any] = field(default_factory=dict)
    calibration: str = "none"               # none | contextual | batch (batch: computed from the run's scores)
    instruction: str | None = None          # overrides the task template's instruction
    seed: int = 0                           # demonstration selection/ordering seed
    limit: int | None = None                # evaluate a seeded slice of this many examples
    eval_seed: int | None = 0               # seed of that slice (None: the first `limit` examples in file order)
    max_length: int | None = None           # token budget (default: the model's, capped at 2048)
    batch_size: int = 32
    device: str | None = None
    out: str | None = None                  # run directory (predictions.jsonl, summary.json)
    # Generation (question -> answer tasks; see iclkit.generation)
    format: str | None = None               # direct | cot | zero-shot-cot | auto-cot | self-ask | least-to-most
    format_options: Mapping[str, Any] = field(default_factory=dict)  # max_steps, use_tool, max_subquestions, ...
    task_options: Mapping[str, Any] = field(default_factory=dict)    # reasoning-task generator options, answer_kind
    generation: Mapping[str, Any] = field(default_factory=dict)      # max_new_tokens temperature top_p n_samples stop
    # Chat templates (classification and generation)
    chat_template: bool = False             # apply the model's own chat template; instruction -> system message
    multiturn: bool = False                 # chat: demonstrations as alternating user/assistant turns
    # Momentum attention (Dai et al. 2023 §5) added to a pretrained hf model at inference: a control, since the model
    # was not trained with it (iclkit.train.momentum). None: plain attention.
    momentum_eta: float | None = None

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.calibration not in CALIBRATIONS:
            raise IclkitError(f"key 'calibration': must be one of {', '.join(CALIBRATIONS)}, not {self.calibration!r}"
                              f"{did_you_mean(self.calibration, CALIBRATIONS)}")
        if self.retriever == "zero" and self.shots:
            object.__setattr__(self, "shots", 0)

    @property
    def resolved_ordering(self) -> str:
        return self.ordering or DEFAULT_ORDERING.get(self.retriever, "retrieved")

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["text_fields"] = list(self.text_fields)
        out["retriever_options"] = dict(self.retriever_options)
        out["scorer_options"] = dict(self.scorer_options)
        out["backend_options"] = dict(self.backend_options)
        for key in ("format_options", "task_options", "generation"):
            out[key] = dict(getattr(self, key))
        for key in (*GENERATION_KEYS, "momentum_eta"):  # left out at their defaults: older run directories resume
            if out[key] in (None, False, {}):
                del out[key]
        out["ordering"] = self.resolved_ordering
        return out


# The type and smallest value of every field that is not a plain string; checked when a config is built, so a YAML
# typo (`shots: eight`, `seed: 1.5`) stops at load time naming the key instead of deep inside a run.
_INT_FIELDS = {"shots": 0, "seed": 0, "batch_size": 1, "limit": 1, "eval_seed": 0, "max_length": 1}
_OPTIONAL = {"data_file", "eval_file", "ordering", "instruction", "limit", "eval_seed", "max_length", "device", "out",
             "format", "momentum_eta"}
_MAPPING_FIELDS = ("backend_options", "retriever_options", "scorer_options", "format_options", "task_options",
                   "generation")
_BOOL_FIELDS = ("chat_template", "multiturn")


def check_field_types(config: RunConfig) -> None:
    """Raise naming the key when a field has the wrong type or is out of range (bools are not integers here)."""
    for f in fields(config):
        value = getattr(config, f.name)
        if value is None and f.name in _OPTIONAL:
            continue
        if f.name in _INT_FIELDS:
            if isinstance(value, bool) or not isinstance(value, int):
                raise IclkitError(f"key '{f.name}': expected an integer, got {value!r}")
            if value < _INT_FIELDS[f.name]:
                raise IclkitError(f"key '{f.name}': must be >= {_INT_FIELDS[f.name]}, not {value}")
        elif f.name in _BOOL_FIELDS:
            if not isinstance(value, bool):
                raise IclkitError(f"key '{f.name}': expected true or false, got {value!r}")
        elif f.name in _MAPPING_FIELDS:
            if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
                raise IclkitError(f"key '{f.name}': expected a mapping of option names to values, got {value!r}")
        elif f.name == "momentum_eta":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
                raise IclkitError(f"key 'momentum_eta': expected a number in (0, 1) or null, got {value!r}")
        elif f.name == "text_fields":
            if not isinstance(value, tuple) or not value or not all(isinstance(v, str) and v for v in value):
                raise IclkitError(f"key 'text_fields': expected a non-empty list of field names, got {value!r}")
        elif not isinstance(value, str) or (not value and f.name not in ("instruction",)):
            raise IclkitError(f"key '{f.name}': expected a{' non-empty' if value == '' else ''} string, "
                              f"got {value!r}")


FIELD_NAMES = tuple(f.name for f in fields(RunConfig))
GENERATION_KEYS = ("format", "format_options", "task_options", "generation", "chat_template", "multiturn")
# Keys that do not change any prediction: a run may be resumed with different values.
NON_RESULT_KEYS = ("name", "limit", "out", "batch_size", "device")


def run_config(values: Mapping[str, Any], *, where: str = "config") -> RunConfig:
    """Build a RunConfig from a mapping, naming the offending key on error."""
    for key in values:
        if key not in FIELD_NAMES:
            raise IclkitError(f"{where}: unknown key '{key}'{did_you_mean(str(key), FIELD_NAMES)}")
    values = dict(values)
    if isinstance(values.get("text_fields"), str):
        values["text_fields"] = tuple(s.strip() for s in values["text_fields"].split(","))
    elif isinstance(values.get("text_fields"), list):
        values["text_fields"] = tuple(values["text_fields"])
    for key in _MAPPING_FIELDS:
        if values.get(key) is None:
            values.pop(key, None)
    try:
        return RunConfig(**values)
    except IclkitError as exc:  # __post_init__ does not know which file or flag the values came from
        raise IclkitError(f"{where}: {exc}") from None


def parse_override(text: str) -> tuple[str, Any]:
    """``key=value``; dotted keys set one option (``scorer_options.normalization=pmi``). See :func:`parse_value`."""
    if "=" not in text:
        raise IclkitError(f"override {text!r} is not key=value")
    key, raw = text.split("=", 1)
    return key.strip(), parse_value(raw)


def parse_value(raw: str) -> Any:
    """The value of a ``key=value`` override. YAML reads numbers, booleans, null, quoted strings and containers
    written in brackets or braces (``shots=4``, ``limit=null``, ``stop=["\\n"]``,
    ``scorer_options={normalization: pmi}``); any other text is kept as typed (stripped), because free text such as
    an instruction (``instruction=Classify: positive or negative``) often reads as a YAML mapping, loses a
    ``" # ..."`` tail as a comment, or is not valid YAML at all. An empty value is null."""
    if not raw.strip():
        return None
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw.strip()
    if isinstance(value, (Mapping, list)) and not raw.lstrip().startswith(("{", "[")):
        return raw.strip()  # "Classify: a or b", "- item": YAML's block forms, never meant on a command line
    if isinstance(value, str) and not raw.lstrip().startswith(("'", '"')):
        return raw.strip()  # unquoted text as typed: YAML would drop a " # ..." part as a comment
    return value


# The rule above, for the CLI help of every --set / KEY=VALUE argument.
OVERRIDE_HELP = ("VALUE is read as YAML only when it is a number, true/false, null, a 'quoted string', a [list] or a "
                 "{mapping}; any other text, colons included, is kept as typed")


def apply_overrides(values: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    values = dict(values)
    for item in overrides:
        key, value = parse_override(item)
        if "." in key:
            outer, inner = key.split(".", 1)
            values[outer] = {**dict(values.get(outer) or {}), inner: value}
        else:
            values[key] = value
    return values


@dataclass(frozen=True)
class Variant:
    """One row of an experiment: a run config and the demonstration seeds to average over."""

    config: RunConfig
    seeds: tuple[int, ...]


def load_experiment(path: str | Path, overrides: Sequence[str] = ()) -> tuple[str, list[Variant]]:
    """Read a run or experiment YAML. Returns (experiment name, variants); a plain run is one variant."""
    path = Path(path)
    if not path.exists():
        raise IclkitError(f"{path}: no such config file")
    if path.is_dir():
        raise IclkitError(f"{path}: is a directory, not a config file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise IclkitError(f"{path}: invalid YAML{yaml_problem(exc)}") from None
    except UnicodeDecodeError as exc:
        raise IclkitError(f"{path}: not UTF-8 text (byte {exc.start}); save the config as UTF-8") from None
    except OSError as exc:
        raise IclkitError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not isinstance(data, dict):
        raise IclkitError(f"{path}: expected a mapping at the top level")
    variants_raw = data.pop("variants", None) or [{}]
    if not isinstance(variants_raw, list):
        raise IclkitError(f"{path}: 'variants' must be a list of mappings, got {variants_raw!r}")
    base = apply_overrides(data, overrides)
    name = str(base.get("name") or path.stem)
    variants = []
    for i, raw in enumerate(variants_raw):
        if not isinstance(raw, dict):
            raise IclkitError(f"{path}: variants[{i}] must be a mapping")
        raw = dict(raw)
        seeds = raw.pop("seeds", None)
        merged = {**base, **raw}
        vname = str(raw.get("name") or (name if len(variants_raw) == 1 else f"variant{i}"))
        merged["name"] = vname
        if base.get("out") and len(variants_raw) > 1:
            merged["out"] = str(Path(base["out"]) / vname)
        config = run_config(merged, where=f"{path} variants[{i}]" if len(variants_raw) > 1 else str(path))
        variants.append(Variant(config, _seeds(seeds, f"{path} variants[{i}]") if seeds else (config.seed,)))
    return name, variants


def _seeds(value: Any, where: str) -> tuple[int, ...]:
    """A variant's ``seeds``: a non-empty list of distinct non-negative integers."""
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                              for v in value):
        raise IclkitError(f"{where}: 'seeds' must be a list of non-negative integers, got {value!r}")
    if len(set(value)) != len(value):
        raise IclkitError(f"{where}: 'seeds' repeats a seed: {value!r}")
    return tuple(value)
