"""KV caches for running new tokens against one cached prefix: the scoring engine's tree rows, batched generation
and the analysis passes all fork a prefix cache; generation also decodes into spare room (:class:`ReservedLayer`)."""

from __future__ import annotations

import copy

import torch
from transformers.cache_utils import DynamicLayer


def fork_cache(cache, rows: int, *, grow_sliding: bool = False, reserve: int = 0):
    """A cache to run new tokens against, sharing the prefix tensors instead of copying them.

    Layers rebind their key/value tensors on update (``torch.cat``) rather than writing into them, so a shallow
    copy of each layer leaves the original intact; ``expand`` gives every row the prefix without a copy (the model's
    own concatenation is then the only one).

    ``grow_sliding``: sliding-window layers become plain growing layers that keep every key added from here on,
    and the caller's masks (:meth:`HFLM._attention_masks`) apply the window by position. Batched generation needs
    this: a sliding layer drops its oldest *slots*, and in a left-padded row some of those slots are padding, so it
    would drop real keys that are still inside that row's window.

    ``reserve``: the growing layers become :class:`ReservedLayer` with room for that many new tokens per row (the
    prefix is copied once into each row's buffer). For decoding, which adds one token per step."""
    fork = copy.copy(cache)
    fork.layers = [_forked(layer, rows, grow_sliding, reserve) for layer in cache.layers]
    return fork


def _forked(layer, rows: int, grow_sliding: bool, reserve: int):
    sliding = getattr(layer, "is_sliding", False)
    if sliding and not grow_sliding:
        return _expanded(copy.copy(layer), rows)
    if reserve:
        return ReservedLayer(reserve, layer.keys.expand(rows, *layer.keys.shape[1:]),
                             layer.values.expand(rows, *layer.values.shape[1:]))
    return _expanded(_grown(layer) if sliding else copy.copy(layer), rows)


def _expanded(layer, rows: int):
    if rows > 1:
        layer.keys = layer.keys.expand(rows, *layer.keys.shape[1:])
        layer.values = layer.values.expand(rows, *layer.values.shape[1:])
    return layer


def _grown(layer):
    """A growing (never cropped) cache layer holding ``layer``'s keys and values, shared, not copied."""
    grown = DynamicLayer()
    grown.dtype, grown.device = layer.keys.dtype, layer.keys.device
    grown.keys, grown.values, grown.is_initialized = layer.keys, layer.values, True
    return grown


class ReservedLayer(DynamicLayer):
    """A growing cache layer that writes new keys into spare room of a preallocated buffer.

    Why: :class:`DynamicLayer` appends with ``torch.cat``, which copies the whole cache at every step. With a few
    rows behind a long prefix that copy is the largest single cost of a decoding step on CPU (SmolLM2-135M, 8 rows,
    800 cached tokens: about a third of the step). Here a step writes one slot per row and hands attention a view
    of the filled part. When the room runs out, the buffer is reallocated with ``room`` more slots (or
    as many as an update brings)."""

    def __init__(self, room: int, keys: torch.Tensor | None = None, values: torch.Tensor | None = None) -> None:
        super().__init__()
        self.room = max(1, room)
        if keys is not None:
            self._allocate(keys, values)

    def _allocate(self, keys: torch.Tensor, values: torch.Tensor, incoming: int = 0) -> None:
        batch, heads, n, dim = keys.shape
        size = n + max(self.room, incoming)
        self._keys = keys.new_empty((batch, heads, size, dim))
        self._values = values.new_empty((batch, heads, size, values.shape[-1]))
        self._keys[:, :, :n] = keys
        self._values[:, :, :n] = values
        self.dtype, self.device, self.is_initialized = keys.dtype, keys.device, True
        self._fill(n)

    def _fill(self, n: int) -> None:
        self.length = n
        self.keys, self.values = self._keys[:, :, :n], self._values[:, :, :n]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self._allocate(key_states, value_states)
            return self.keys, self.values
        start, end = self.length, self.length + key_states.shape[-2]
        if end > self._keys.shape[-2]:
            self._allocate(self.keys, self.values, incoming=key_states.shape[-2])
        self._keys[:, :, start:end] = key_states
        self._values[:, :, start:end] = value_states
        self._fill(end)
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.length if self.is_initialized else 0

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.is_initialized:
            self._keys, self._values = self._keys[indices], self._values[indices]
            self._fill(self.length)

    def crop(self, tokens_to_remove: int) -> None:
        if tokens_to_remove < 0 and self.is_initialized:
            self._fill(max(0, self.length + tokens_to_remove))

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self.is_initialized:
            self._allocate(self.keys.repeat_interleave(repeats, dim=0), self.values.repeat_interleave(repeats, dim=0))

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        self.batch_select_indices(beam_idx.to(self.device))

    def reset(self) -> None:
        super().reset()
        self.length = 0
