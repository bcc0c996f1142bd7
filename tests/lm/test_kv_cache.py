"""Prefix-cache forks and the in-place decoding layer: the same keys and values as concatenation, the prefix left
intact, finished rows dropped, and growth past the reserved room."""

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer, DynamicSlidingWindowLayer

from iclkit.lm.kv_cache import ReservedLayer, fork_cache


def kv(rows: int, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(rows, 2, n, 4, generator=g), torch.randn(rows, 2, n, 4, generator=g)


def test_reserved_layer_matches_concatenation_also_past_its_room():
    reserved, plain = ReservedLayer(room=3), DynamicLayer()
    for step, n in enumerate([5, 1, 1, 2, 1, 4]):  # 9 new slots after the first 5: the room of 3 runs out twice
        k, v = kv(3, n, step)
        got, want = reserved.update(k, v), plain.update(k, v)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    assert reserved.get_seq_length() == plain.get_seq_length() == 14


def test_reserved_layer_writes_in_place_within_its_room():
    layer = ReservedLayer(room=4, keys=kv(2, 6, 0)[0], values=kv(2, 6, 0)[1])
    buffer = layer._keys
    for step in range(4):
        layer.update(*kv(2, 1, step + 1))
    assert layer._keys is buffer and layer.get_seq_length() == 10  # no reallocation, no copy of the cache


def test_reserved_layer_drops_rows_like_dynamic_layer():
    reserved, plain = ReservedLayer(room=2), DynamicLayer()
    for layer in (reserved, plain):
        layer.update(*kv(4, 3, 0))
        layer.batch_select_indices(torch.tensor([0, 2]))
        layer.update(*kv(2, 1, 1))
    assert torch.equal(reserved.keys, plain.keys) and torch.equal(reserved.values, plain.values)


def test_fork_with_reserve_leaves_the_prefix_intact_and_keeps_unwidened_sliding_layers():
    prefix = DynamicCache()
    prefix.layers = [DynamicLayer(), DynamicSlidingWindowLayer(sliding_window=16)]
    keys, values = kv(1, 5, 0)
    for i in range(2):
        prefix.update(keys, values, i)
    fork = fork_cache(prefix, 3, reserve=4)
    assert isinstance(fork.layers[0], ReservedLayer) and type(fork.layers[1]) is DynamicSlidingWindowLayer
    fork.update(*kv(3, 1, 1), 0)
    assert fork.layers[0].keys.shape == (3, 2, 6, 4)
    assert torch.equal(fork.layers[0].keys[:, :, :5], keys.expand(3, -1, -1, -1))
    assert prefix.layers[0].keys.shape == (1, 2, 5, 4) and torch.equal(prefix.layers[0].keys, keys)
    widened = fork_cache(prefix, 3, grow_sliding=True, reserve=4)
    assert all(isinstance(layer, ReservedLayer) for layer in widened.layers)
