import pytest

from iclkit.lm.tree import (
    Seq,
    build_tree,
    minimum_tokens,
    pack_rows,
    shared_prefix,
    split_by_prefix,
    verify_probe,
)


def test_candidates_share_their_common_tokens_and_branch_after():
    # context (1, 2, 3), continuations (4, 5) and (4, 6, 7): node for token 4 is shared
    a, b = Seq(0, (1, 2, 3, 4, 5), 3), Seq(1, (1, 2, 3, 4, 6, 7), 3)
    tree = build_tree([a, b], start=1)
    assert tree.tokens == [2, 3, 4, 6]  # final tokens 5 and 7 are only targets
    assert tree.positions == [1, 2, 3, 4]
    assert tree.parents == [-1, 0, 1, 2]
    (ia, scored_a), (ib, scored_b) = tree.members
    assert (ia, scored_a) == (0, [(1, 4), (2, 5)])  # node 1 (token 3) predicts 4, node 2 (token 4) predicts 5
    assert (ib, scored_b) == (1, [(1, 4), (2, 6), (3, 7)])
    assert tree.logit_nodes == {1, 2, 3}


def test_a_cached_prefix_may_not_cover_a_scored_position():
    with pytest.raises(ValueError, match="scored position"):
        build_tree([Seq(0, (1, 2, 3, 4), 2)], start=2)


def test_shared_prefix_stops_before_the_first_scored_prediction():
    seqs = [Seq(0, (1, 2, 3, 4, 5), 4), Seq(1, (1, 2, 3, 4, 6), 2)]
    assert shared_prefix(seqs) == (1,)  # logits at position 1 are needed by the second sequence
    assert shared_prefix([Seq(0, (1, 2, 9), 2), Seq(1, (1, 3, 9), 2)]) == (1,)


def test_pack_rows_fills_rows_up_to_the_budget_and_keeps_every_tree():
    trees = [build_tree([Seq(i, tuple(range(n + 1)), 1)], 0) for i, n in enumerate([5, 3, 3, 2, 9])]
    rows = pack_rows(trees, row_tokens=8)
    assert sorted(len(t) for r in rows for t in r.trees) == sorted(len(t) for t in trees)
    assert all(len(r) <= 8 or len(r.trees) == 1 for r in rows)
    assert [[len(t) for t in r.trees] for r in rows] == [[9], [5, 3], [3, 2]]
    parents = rows[1].flat()[2]
    assert parents[len(rows[1].trees[0])] == -1  # the second tree starts at the shared prefix again


def test_minimum_tokens_counts_each_distinct_prefix_once():
    seqs = [Seq(0, (1, 2, 3, 4), 3), Seq(1, (1, 2, 3, 5), 3), Seq(2, (1, 2, 7, 8), 2)]
    assert minimum_tokens(seqs) == 4  # 1, 2, 3 and 7


DEMO_TOKENS = tuple(range(100, 120))  # 20 tokens of fixed demonstrations


def _pmi_call(n_queries: int) -> tuple[list[Seq], list[object]]:
    """Per query: two labels after the demonstrations, and PMI's two labels after an empty context (BOS 1)."""
    seqs, keys = [], []
    for q in range(n_queries):
        ctx = (1, *DEMO_TOKENS, 50 + q)
        for label in (7, 8):
            seqs.append(Seq(len(seqs), (*ctx, label), len(ctx)))
            keys.append(q)
    for q in range(n_queries):
        for label in (7, 8):
            seqs.append(Seq(len(seqs), (1, label), 1))
            keys.append(("pmi", ""))
    return seqs, keys


def test_split_by_prefix_keeps_the_demonstrations_shared_despite_pmi_requests():
    seqs, keys = _pmi_call(4)
    assert shared_prefix(seqs) == ()  # all together: nothing is shared, demonstrations would run per query
    main, rest = split_by_prefix(seqs, keys, min_shared=16)
    assert [s.index for s in main] == list(range(8)) and [s.index for s in rest] == list(range(8, 16))
    assert shared_prefix(main) == (1, *DEMO_TOKENS)


def test_split_by_prefix_leaves_calls_alone_when_nothing_dominates():
    seqs, keys = _pmi_call(4)
    main, rest = split_by_prefix(seqs[:8], keys[:8], min_shared=16)  # already sharing: nothing to split
    assert len(main) == 8 and rest == []
    # per-query demonstrations (as TopK): no long prefix is shared by half of the groups
    per_query = [Seq(i, (1, *[200 + i // 2] * 20, 7 + i % 2), 21) for i in range(8)]
    main, rest = split_by_prefix(per_query, [i // 2 for i in range(8)], min_shared=16)
    assert len(main) == 8 and rest == []


def test_verify_probe_fits_max_length_and_branches_after_the_context():
    seq = Seq(0, tuple(range(1, 31)), 27)  # 27 context tokens, 3 continuation tokens: 30, fitted to 30
    a, b = verify_probe(seq, max_length=30, vocab_size=1000)
    assert len(a.tokens) <= 30 and len(b.tokens) <= 30
    assert a.n_ctx == b.n_ctx and a.tokens[: a.n_ctx] == b.tokens[: b.n_ctx]
    assert a.tokens[0] == 1  # the first (BOS) token is kept
    assert a.tokens[a.n_ctx] != b.tokens[b.n_ctx]  # they branch right after the context
    assert len(a.tokens) - a.n_ctx >= 2 and len(b.tokens) - b.n_ctx >= 2
    long_continuation = Seq(0, tuple(range(1, 31)), 2)
    assert all(len(p.tokens) <= 30 for p in verify_probe(long_continuation, max_length=30, vocab_size=1000))
