"""Render examples into prompt text. Knows templates and verbalizers, nothing about models or retrieval.

Layout (whitespace is part of the contract, see :class:`~iclkit.data.spec.TemplateSpec`)::

    [instruction + sep] demo_1 + sep + ... + demo_k + sep + query_input  ->  continuation (per label)

A demonstration is ``input + answer`` with its gold label; the query's ``input`` ends right before the answer, and
each candidate label's ``answer`` is the continuation the model scores.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from iclkit.data.spec import TemplateSpec
from iclkit.errors import IclkitError
from iclkit.types import Example, Prompt


def _fill(fmt: str, fields: Mapping[str, str], label_word: str | None, *, example_id: str) -> str:
    values = dict(fields)
    if label_word is not None:
        values["label"] = label_word
    try:
        return fmt.format(**values)
    except KeyError as exc:
        raise IclkitError(f"example {example_id}: template {fmt!r} needs field {exc.args[0]!r}, "
                          f"the example has {sorted(values)}") from None


def render_demo(template: TemplateSpec, example: Example, verbalizer: Mapping[str, str]) -> str:
    """One demonstration with its gold label verbalized."""
    if example.label is None:
        raise IclkitError(f"demonstration {example.id} has no label")
    word = verbalizer[example.label]
    return _fill(template.input, example.fields, word, example_id=example.id) + _fill(
        template.answer, example.fields, word, example_id=example.id)


def render_prefix(template: TemplateSpec, demos: Sequence[str]) -> str:
    """Instruction and demonstrations, ending with the separator the query follows."""
    parts = ([template.instruction] if template.instruction else []) + list(demos)
    return "".join(p + template.separator for p in parts)


class PromptBuilder:
    """Builds :class:`~iclkit.types.Prompt` records and keeps them inside the model's context window.

    Args:
        template: the task's template (the Direct one, or the flipped Channel one).
        labels: label names, in task order.
        verbalizer: label name → words.
        count_tokens: the model's token counter; ``None`` disables the length check.
        max_tokens: the budget for the longest ``context + continuation``.
    """

    def __init__(self, template: TemplateSpec, labels: Sequence[str], verbalizer: Mapping[str, str], *,
                 count_tokens: Callable[[str], int] | None = None, max_tokens: int | None = None) -> None:
        self.template = template
        self.labels = tuple(labels)
        self.verbalizer = verbalizer
        self.count_tokens = count_tokens
        self.max_tokens = max_tokens

    def build(self, query: Example, demos: Sequence[Example]) -> Prompt:
        """Render ``demos`` (in the given order: the last is next to the query) and one candidate per label.

        When the prompt does not fit, whole demonstrations are dropped from the far end (the first ones), never the
        query or a label; :attr:`Prompt.n_demos_used` tells how many remained.
        """
        rendered = [render_demo(self.template, d, self.verbalizer) for d in demos]
        start = self._first_fitting_demo(query, rendered)
        return self._prompt(query, rendered[start:], [d.id for d in demos[start:]], len(demos))

    def with_prefix(self, prompt: Prompt, query: Example) -> Prompt:
        """A prompt for another query over exactly the same instruction and demonstrations (for calibration)."""
        inputs, conts = self.query_parts(query)
        return Prompt(labels=self.labels, contexts=tuple(prompt.prefix + i for i in inputs), continuations=conts,
                      demo_ids=prompt.demo_ids, n_demos_requested=prompt.n_demos_requested, prefix=prompt.prefix)

    def query_parts(self, query: Example) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(query input, continuation) per label, without any prefix."""
        inputs, conts = [], []
        for label in self.labels:
            word = self.verbalizer[label]
            inputs.append(_fill(self.template.input, query.fields, word, example_id=query.id))
            conts.append(_fill(self.template.answer, query.fields, word, example_id=query.id))
        return tuple(inputs), tuple(conts)

    def _prompt(self, query: Example, rendered: Sequence[str], demo_ids: Sequence[str], requested: int) -> Prompt:
        prefix = render_prefix(self.template, rendered)
        inputs, conts = self.query_parts(query)
        return Prompt(labels=self.labels, contexts=tuple(prefix + i for i in inputs), continuations=conts,
                      demo_ids=tuple(demo_ids), n_demos_requested=requested, prefix=prefix)

    def _fits(self, query: Example, rendered: Sequence[str]) -> bool:
        prompt = self._prompt(query, rendered, [], len(rendered))
        # The longest candidate in tokens, not characters: a short word can take more tokens than a long one.
        longest = max(self.count_tokens(c + k) for c, k in zip(prompt.contexts, prompt.continuations))
        # +1: a back-end may prepend BOS/EOS when the context is empty
        return longest + 1 <= self.max_tokens

    def _first_fitting_demo(self, query: Example, rendered: Sequence[str]) -> int:
        if self.count_tokens is None or self.max_tokens is None or self._fits(query, rendered):
            return 0
        if not self._fits(query, []):
            raise IclkitError(f"example {query.id}: the query alone is longer than the model's {self.max_tokens} "
                              "tokens; it is never truncated (raise --max-length or shorten the input)")
        lo, hi = 1, len(rendered)  # binary search for the fewest demos to drop: fitting is monotone in the count
        while lo < hi:
            mid = (lo + hi) // 2
            if self._fits(query, rendered[mid:]):
                hi = mid
            else:
                lo = mid + 1
        return lo


def content_free_query(query_fields: Sequence[str], text: str, *, example_id: str = "content-free") -> Example:
    """A query whose every input field is the content-free string (Zhao et al. 2021)."""
    return Example(id=example_id, fields={f: text for f in query_fields}, label=None)


def opening_literal(pattern: str) -> str:
    """The text of a template before its first field: ``"Sentence: {text}\nLabel:"`` -> ``"Sentence:"`` (trailing
    spaces dropped, so that a model's own word-initial space follows it)."""
    import string

    for literal, name, _, _ in string.Formatter().parse(pattern):
        return literal.rstrip(" ") if name is not None else ""
    return ""


def parse_input(template: TemplateSpec, text: str, fields: Sequence[str]) -> dict[str, str] | None:
    """The inverse of rendering ``template.input``: read the input fields back from a demonstration-shaped text
    (e.g. one an LM generated after the demonstrations). Whatever follows the input part (the answer) is ignored;
    if the text stops before the input's closing literal, the last field runs to the end. ``None`` when it does
    not match or a field is empty."""
    import re
    import string

    parts = [(re.escape(lit), name) for lit, name, _, _ in string.Formatter().parse(template.input)]
    body = "".join(lit + (f"(?P<{name}>.+?)" if name in fields else ".*?") if name else lit for lit, name in parts)
    match = re.match(body + r".*\Z", text, flags=re.DOTALL)
    if match is None and parts and parts[-1][1] is None:  # cut before the closing literal ("\nLabel:")
        head = "".join(lit + (f"(?P<{name}>.+?)" if name in fields else ".*?") if name else lit
                       for lit, name in parts[:-1])
        match = re.match(head + r"\s*\Z", text, flags=re.DOTALL)
    if match is None:
        return None
    values = {f: match.group(f).strip() for f in fields if f in match.groupdict()}
    return values if values and all(values.values()) else None
