"""The model's own chat template, as a text renderer for :class:`iclkit.prompt.chat.Layout`.

The rendered text ends with the generation prompt (where the assistant's reply starts). A template that writes the
BOS token as text, for a tokenizer that also adds BOS when encoding, would give two BOS tokens; the text one is
dropped so that the model sees exactly what ``apply_chat_template(..., tokenize=True)`` gives it.
"""

from __future__ import annotations

from collections.abc import Callable

from iclkit.errors import IclkitError

Messages = list[dict[str, str]]


def chat_renderer(lm) -> Callable[[Messages], str]:
    """``messages -> text`` with ``lm``'s chat template; a clear error when the model has none."""
    tokenizer = getattr(lm, "tokenizer", None)
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        raise IclkitError(f"model '{getattr(lm, 'name', lm)}' has no chat template (its tokenizer defines none, or "
                          f"the '{type(lm).__name__}' back-end does not expose one); drop --chat-template, or use an "
                          "instruct model whose tokenizer has one")
    bos = tokenizer.bos_token
    adds_bos = bos is not None and tokenizer("", add_special_tokens=True)["input_ids"][:1] == [tokenizer.bos_token_id]

    def render(messages: Messages) -> str:
        try:
            text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        except Exception as exc:  # noqa: BLE001 - templates raise anything (jinja errors, "roles must alternate")
            raise IclkitError(f"the chat template of '{lm.name}' rejected the prompt: {exc}") from None
        if adds_bos and text.startswith(bos):
            text = text[len(bos):]
        return text

    return render
