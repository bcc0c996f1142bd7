"""Declarative task description: fields, labels, verbalizer, templates, data source.

A task is data (YAML in ``iclkit/data/tasks/``), never code. The prompt stage reads the templates; the data stage
reads the source; nothing here touches a model.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field

from iclkit.errors import IclkitError

LABEL_PLACEHOLDER = "label"


def placeholders(fmt: str, *, where: str) -> tuple[str, ...]:
    """Names used as ``{name}`` in ``fmt``; raises a clear error for malformed braces or positional fields."""
    try:
        parsed = list(string.Formatter().parse(fmt))
    except ValueError as exc:
        raise IclkitError(f"{where}: malformed template {fmt!r}: {exc} (write a literal brace as '{{{{' or '}}}}')")
    names = []
    for _, name, spec, conv in parsed:
        if name is None:
            continue
        if name == "" or name.isdigit():
            raise IclkitError(f"{where}: template {fmt!r} has a positional placeholder '{{{name}}}'; name the field")
        if spec or conv:
            raise IclkitError(f"{where}: template {fmt!r}: format specs/conversions are not supported in '{{{name}}}'")
        names.append(name)
    return tuple(names)


@dataclass(frozen=True)
class TemplateSpec:
    """How one example becomes text.

    A demonstration is ``input + answer``; a query is ``input`` (the context) and, per candidate label, ``answer``
    (the scored continuation). Either part may use any input field or ``{label}`` (the verbalized label):
    a Direct template puts ``{label}`` in ``answer``; a Channel template puts it in ``input`` and the input fields in
    ``answer``, so the model scores P(input | label).

    Whitespace rule: the answer carries its own leading space (``" {label}"``), and the input must not end in a space,
    because BPE tokenizers merge the space into the next word (`` positive`` is one token, ``positive`` another).
    Demonstrations are joined with ``separator`` and the query follows the last separator; the optional
    ``instruction`` comes first, followed by ``separator``.
    """

    input: str
    answer: str = " {label}"
    separator: str = "\n\n"
    instruction: str | None = None

    def check(self, fields: tuple[str, ...], *, where: str) -> None:
        allowed = set(fields) | {LABEL_PLACEHOLDER}
        for part_name, part in (("input", self.input), ("answer", self.answer)):
            for name in placeholders(part, where=f"{where}.{part_name}"):
                if name not in allowed:
                    from iclkit.errors import did_you_mean

                    raise IclkitError(
                        f"{where}.{part_name}: unknown placeholder '{{{name}}}'{did_you_mean(name, allowed)}; "
                        f"allowed: {', '.join(sorted(allowed))}"
                    )
        used = set(placeholders(self.input, where=f"{where}.input")) | set(
            placeholders(self.answer, where=f"{where}.answer"))
        if not used & set(fields):
            raise IclkitError(f"{where}: neither input nor answer uses an input field, so the prompt would never "
                              f"show the example; add one of {', '.join('{' + f + '}' for f in fields)}")
        if LABEL_PLACEHOLDER not in used:
            raise IclkitError(f"{where}: neither input nor answer uses '{{label}}', so every label would get the "
                              f"same score; put it in the answer (' {{label}}')")
        if self.instruction:
            placeholders(self.instruction, where=f"{where}.instruction")
        if self.input.endswith(" ") and self.answer.startswith(" "):
            raise IclkitError(f"{where}: input ends with a space and answer starts with one; keep only the answer's")

    @property
    def label_in_answer(self) -> bool:
        return LABEL_PLACEHOLDER in placeholders(self.answer, where="answer")


@dataclass(frozen=True)
class SourceSpec:
    """Where examples come from.

    ``kind``: ``builtin`` (files shipped in the package), ``jsonl``/``csv``/``json`` (local files), or ``hf``
    (a HuggingFace ``datasets`` name). ``splits`` maps the roles ``train`` (demonstration pool) and ``eval``
    to file paths (local kinds) or split names (hf). ``field_map`` renames source columns to task fields, and
    ``label_map`` maps raw label values (ids or strings, as strings) to label names.
    """

    kind: str
    splits: Mapping[str, str]
    name: str | None = None
    config: str | None = None
    field_map: Mapping[str, str] = field(default_factory=dict)
    label_map: Mapping[str, str] = field(default_factory=dict)
    label_field: str = "label"
    id_field: str | None = None


@dataclass(frozen=True)
class TaskSpec:
    """A classification task: input fields, label names, verbalizer and templates.

    ``verbalizer`` maps each label name to the word(s) the model sees. ``content_free`` inputs (Zhao et al. 2021)
    replace every input field when estimating the contextual prior for calibration. ``hf`` optionally describes the
    HuggingFace hub equivalent of ``source`` (same label names), for users with hub access.
    """

    name: str
    input_fields: tuple[str, ...]
    labels: tuple[str, ...]
    verbalizer: Mapping[str, str]
    template: TemplateSpec
    source: SourceSpec
    channel_template: TemplateSpec | None = None
    description: str = ""
    content_free: tuple[str, ...] = ("N/A", "", "[MASK]")
    hf: SourceSpec | None = None

    def __post_init__(self) -> None:
        where = f"task '{self.name}'"
        if not self.labels:
            raise IclkitError(f"{where}: no labels")
        missing = [lab for lab in self.labels if lab not in self.verbalizer]
        if missing:
            raise IclkitError(f"{where}: verbalizer has no words for label(s) {missing}")
        words = [self.verbalizer[lab] for lab in self.labels]
        if len(set(words)) != len(words):
            raise IclkitError(f"{where}: two labels share the same verbalizer words {words}")
        self.template.check(self.input_fields, where=f"{where} template")
        if self.channel_template is not None:
            self.channel_template.check(self.input_fields, where=f"{where} channel_template")

    def channel(self) -> TemplateSpec:
        """The flipped (Channel, Min et al. 2022) template: label phrase first, then the input, which is scored."""
        if self.channel_template is not None:
            return self.channel_template
        joined = " ".join("{" + f + "}" for f in self.input_fields)
        return TemplateSpec(
            input="Label: {label}\nInput:",
            answer=" " + joined,
            separator=self.template.separator,
            instruction=self.template.instruction,
        )
