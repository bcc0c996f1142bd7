"""Plain-text and chat layouts of a few-shot prompt. Knows text and message lists, nothing about tokenizers.

A prompt is demonstrations, each a ``(user, assistant)`` pair, then the query's user part. ``cue`` joins a user part
to its answer in plain text (``"\\nA:"``); the assistant part carries its own leading space (``" The answer is 4."``).

Plain::

    [instruction + sep] user_1 + cue + assistant_1 + sep + ... + user_q + cue + start

Chat (``render_chat`` is the model's own template, applied by the back-end with the generation prompt added):

* one user turn (default): the plain text of the demonstrations and the query's user part + cue is the single user
  message; the assistant's reply starts with ``start`` (left-stripped);
* multi-turn (lm-evaluation-harness's ``fewshot_as_multiturn``): each demonstration is a user turn (user + cue)
  and an assistant turn (the answer, stripped), then the query's user turn;
* the instruction becomes the system message.

The scored or generated text always starts where the assistant's answer starts: right after the rendered
generation prompt, so a label is scored exactly where the model would write it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Layout:
    """How demonstrations and a query become one prompt string (and, for chat servers, messages).

    Args:
        instruction: text before the demonstrations (plain) or the system message (chat).
        separator: between demonstrations in plain text.
        render_chat: the model's chat template (messages → text ending with the generation prompt); ``None``
            for plain text.
        multiturn: chat only: demonstrations as alternating user/assistant turns.
    """

    instruction: str | None = None
    separator: str = "\n\n"
    render_chat: Callable[[Messages], str] | None = None
    multiturn: bool = False

    @property
    def is_chat(self) -> bool:
        return self.render_chat is not None

    def plain(self, demos: Sequence[tuple[str, str]], query: str, *, cue: str = "", start: str = "") -> str:
        parts = [self.instruction] if self.instruction else []
        parts += [u + cue + a for u, a in demos]
        return "".join(p + self.separator for p in parts) + query + cue + start

    def messages(self, demos: Sequence[tuple[str, str]], query: str, *, cue: str = "") -> Messages:
        """The chat turns up to (not including) the assistant's reply to the query."""
        out: Messages = [{"role": "system", "content": self.instruction}] if self.instruction else []
        if self.multiturn:
            for user, assistant in demos:
                out += [{"role": "user", "content": user + cue}, {"role": "assistant", "content": assistant.strip()}]
            return [*out, {"role": "user", "content": query + cue}]
        body = "".join(u + cue + a + self.separator for u, a in demos) + query + cue
        return [*out, {"role": "user", "content": body}]

    def render(self, demos: Sequence[tuple[str, str]], query: str, *, cue: str = "", start: str = "") -> str:
        """The prompt text; the model continues it right after ``start``."""
        if self.render_chat is None:
            return self.plain(demos, query, cue=cue, start=start)
        return self.render_chat(self.messages(demos, query, cue=cue)) + start.lstrip()

    def answer_text(self, answer: str) -> str:
        """A scored answer as it follows the prompt: with its leading space in plain text, without it in chat
        (the assistant's reply starts a fresh turn)."""
        return answer.lstrip() if self.is_chat else answer


class ChatPromptBuilder:
    """:class:`~iclkit.prompt.render.PromptBuilder`'s contract (``build``, ``with_prefix``) for classification in a
    chat layout. Each demonstration is (template input, template answer); each label's context is the chat
    rendering ending with the generation prompt, and its continuation the label's answer without its leading
    space: the label tokens are scored exactly where the assistant's reply starts.

    Which demonstrations fit the context is decided on the plain rendering (a chat template adds a few tokens per
    turn; a prompt that then overflows fails with the back-end's length error, never silently).
    ``Prompt.prefix`` is the rendering of the demonstrations alone: a key for per-prefix calibration, not a text
    prefix of the contexts, so only scorers that read ``contexts``/``continuations`` (direct) may use this builder.
    """

    def __init__(self, builder, layout: Layout) -> None:
        self.builder = builder
        self.layout = layout
        self._pairs: dict[str, list[tuple[str, str]]] = {}

    def build(self, query, demos):
        plain = self.builder.build(query, demos)
        kept = list(demos)[len(demos) - plain.n_demos_used:]
        pairs = [self._parts(d, d.label) for d in kept]
        return self._prompt(query, pairs, plain.demo_ids, plain.n_demos_requested)

    def with_prefix(self, prompt, query):
        return self._prompt(query, self._pairs[prompt.prefix], prompt.demo_ids, prompt.n_demos_requested)

    def _parts(self, example, label: str | None) -> tuple[str, str]:
        from iclkit.prompt.render import _fill

        word = self.builder.verbalizer[label] if label is not None else None
        template = self.builder.template
        return (_fill(template.input, example.fields, word, example_id=example.id),
                _fill(template.answer, example.fields, word, example_id=example.id))

    def _prompt(self, query, pairs: list[tuple[str, str]], demo_ids, requested: int):
        from iclkit.types import Prompt

        key = self.layout.render(pairs, "")
        if len(self._pairs) > 512:  # per-query demonstrations: keep memory bounded
            self._pairs.clear()
        self._pairs[key] = pairs
        parts = [self._parts(query, label) for label in self.builder.labels]
        return Prompt(labels=self.builder.labels, contexts=tuple(self.layout.render(pairs, i) for i, _ in parts),
                      continuations=tuple(self.layout.answer_text(a) for _, a in parts), demo_ids=tuple(demo_ids),
                      n_demos_requested=requested, prefix=key, keep_space=True)
