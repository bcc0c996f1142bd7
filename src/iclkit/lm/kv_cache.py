"""Forking a prefix KV cache for new rows without copying it: the scoring engine's tree rows, batched generation
and the analysis passes all run new tokens against one cached prefix."""

from __future__ import annotations

import copy


def fork_cache(cache, rows: int, *, grow_sliding: bool = False):
    """A cache to run new tokens against, sharing the prefix tensors instead of copying them.

    Layers rebind their key/value tensors on update (``torch.cat``) rather than writing into them, so a shallow
    copy of each layer leaves the original intact; ``expand`` gives every row the prefix without a copy (the model's
    own concatenation is then the only one).

    ``grow_sliding``: sliding-window layers become plain growing layers that keep every key added from here on,
    and the caller's masks (:meth:`HFLM._attention_masks`) apply the window by position. Batched generation needs
    this: a sliding layer drops its oldest *slots*, and in a left-padded row some of those slots are padding, so it
    would drop real keys that are still inside that row's window."""
    fork = copy.copy(cache)
    fork.layers = [_grown(layer) if grow_sliding and getattr(layer, "is_sliding", False) else copy.copy(layer)
                   for layer in cache.layers]
    if rows > 1:
        for layer in fork.layers:
            layer.keys = layer.keys.expand(rows, *layer.keys.shape[1:])
            layer.values = layer.values.expand(rows, *layer.values.shape[1:])
    return fork


def _grown(layer):
    """A growing (never cropped) cache layer holding ``layer``'s keys and values, shared, not copied."""
    from transformers.cache_utils import DynamicLayer

    grown = DynamicLayer()
    grown.dtype, grown.device = layer.keys.dtype, layer.keys.device
    grown.keys, grown.values, grown.is_initialized = layer.keys, layer.values, True
    return grown
