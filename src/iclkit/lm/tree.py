"""Token tries: lay out a call's sequences so that every shared token is run through the model once.

A query's candidate labels (and its content-free calibration prompts) share their demonstrations and, for PPL
scoring, the query itself; only the differing tails branch. Each group of requests becomes one trie whose nodes are
the tokens to run; a node attends to the shared prefix and to its own ancestors only (tree attention), with the
position id it would have in the plain sequence. Every sequence therefore sees exactly the tokens, in the positions,
it would see alone, and its log-probabilities are those of the full recomputation.

Pure Python, no torch: the HF back-end turns rows into tensors and attention masks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Seq:
    """One request's tokens: ``tokens[n_ctx:]`` are scored."""

    index: int
    tokens: tuple[int, ...]
    n_ctx: int


@dataclass
class Tree:
    """The trie of one group's tokens after a shared prefix of ``start`` tokens.

    ``parents[i]`` is the node ``i`` continues (-1: it continues the shared prefix directly). For each member,
    ``scored[k] = (node, target)``: the logits at ``node`` predict the member's ``target`` token.
    """

    start: int
    tokens: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)
    members: list[tuple[int, list[tuple[int, int]]]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def logit_nodes(self) -> set[int]:
        return {node for _, scored in self.members for node, _ in scored}


def build_tree(seqs: Sequence[Seq], start: int) -> Tree:
    """Trie of ``seqs[i].tokens[start:-1]``: the last token of a sequence is only ever a target, never an input.

    Requires ``start <= n_ctx - 1`` for every sequence, so the first scored prediction comes from a node.
    """
    tree = Tree(start)
    children: dict[tuple[int, int], int] = {}
    for s in seqs:
        if start > s.n_ctx - 1:
            raise ValueError(f"shared prefix of {start} tokens covers a scored position of request {s.index}")
        path, parent = [], -1
        for pos in range(start, len(s.tokens) - 1):
            key = (parent, s.tokens[pos])
            node = children.get(key)
            if node is None:
                node = len(tree.tokens)
                children[key] = node
                tree.tokens.append(s.tokens[pos])
                tree.positions.append(pos)
                tree.parents.append(parent)
            path.append(node)
            parent = node
        # logits at absolute position p predict token p + 1; node path[p - start] sits at position p
        scored = [(path[p - start], s.tokens[p + 1]) for p in range(s.n_ctx - 1, len(s.tokens) - 1)]
        tree.members.append((s.index, scored))
    return tree


@dataclass
class Row:
    """Several trees side by side in one model row (each node's parent index is row-relative)."""

    trees: list[Tree] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return sum(len(t) for t in self.trees)

    def add(self, tree: Tree) -> None:
        self.offsets.append(len(self))
        self.trees.append(tree)

    def flat(self) -> tuple[list[int], list[int], list[int]]:
        """Tokens, positions and row-relative parents (-1: the shared prefix) of every node in the row."""
        tokens, positions, parents = [], [], []
        for tree, off in zip(self.trees, self.offsets):
            tokens += tree.tokens
            positions += tree.positions
            parents += [p + off if p >= 0 else -1 for p in tree.parents]
        return tokens, positions, parents


def pack_rows(trees: Sequence[Tree], row_tokens: int) -> list[Row]:
    """First-fit-decreasing packing of trees into rows of at most ``row_tokens`` nodes (a longer tree gets a row of
    its own). Packing short trees together saves the padding and, with a cached prefix, one copy of that prefix's
    keys and values per row."""
    rows: list[Row] = []
    for tree in sorted(trees, key=len, reverse=True):
        for row in rows:
            if len(row) + len(tree) <= row_tokens:
                row.add(tree)
                break
        else:
            row = Row()
            row.add(tree)
            rows.append(row)
    return rows


def common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def shared_prefix(seqs: Sequence[Seq]) -> tuple[int, ...]:
    """The longest token prefix that every sequence can take from a cache: common to all, and ending before the
    first scored prediction of each (the cache carries no logits)."""
    shared = seqs[0].tokens
    for s in seqs[1:]:
        shared = shared[: common_prefix_len(shared, s.tokens)]
    return shared[: max(0, min(len(shared), min(s.n_ctx for s in seqs) - 1))]


def minimum_tokens(seqs: Sequence[Seq]) -> int:
    """Nodes of the trie of all sequences (without their final tokens): the fewest tokens any engine must run."""
    return len(build_tree(seqs, 0))


def split_by_prefix(seqs: Sequence[Seq], keys: Sequence[object], min_shared: int) -> tuple[list[Seq], list[Seq]]:
    """Split a call's sequences into those that share a cacheable prefix and the rest (scored without one).

    A few requests with another start must not empty the prefix the others share: PMI's domain-conditional
    requests (``log P(answer | "")``) have an empty context, and with them in the call no token is common to all,
    so fixed demonstrations would be run again for every query. If no prefix of ``min_shared`` tokens is common to
    all, the sequences whose first ``min_shared`` tokens are the most common (counted in groups, ``keys[index]``)
    are split off when they hold at least half of the call's groups; otherwise nothing is split.
    """
    if len(seqs) < 2 or len(shared_prefix(seqs)) >= min_shared:
        return list(seqs), []
    buckets: dict[tuple[int, ...], list[Seq]] = {}
    for s in seqs:
        if s.n_ctx - 1 >= min_shared:
            buckets.setdefault(s.tokens[:min_shared], []).append(s)

    def n_groups(members: Sequence[Seq]) -> int:
        return len({keys[s.index] for s in members})

    main = max(buckets.values(), key=n_groups, default=[])
    if len(main) < 2 or 2 * n_groups(main) < n_groups(seqs):
        return list(seqs), []
    chosen = {s.index for s in main}
    return main, [s for s in seqs if s.index not in chosen]


def verify_probe(seq: Seq, max_length: int, vocab_size: int) -> list[Seq]:
    """Two sequences that branch right after ``seq``'s context, each with at least two scored tokens: its
    continuation twice, and another token followed by its continuation. They exercise a cached prefix, a trie
    branch and position ids. Cut to ``max_length`` tokens: the continuation to at most half of it, then the context
    from its start (after its first token, a BOS that some models' attention depends on), because a request that
    was fitted to the context leaves no room for a longer probe."""
    cont = list(seq.tokens[seq.n_ctx :])[: max(1, (max_length - 2) // 2)]
    ctx = list(seq.tokens[: seq.n_ctx])
    excess = len(ctx) + 2 * len(cont) - max_length
    if excess > 0:
        ctx = ctx[:1] + ctx[1 + excess :]
    other = (cont[0] + 1) % vocab_size
    return [Seq(0, tuple(ctx + cont + cont), len(ctx)), Seq(1, tuple(ctx + [other] + cont), len(ctx))]
