"""Self-supervised ICL training data from raw text (Chen et al. 2022; SPEC-icl-methods §E4). Deterministic from a seed.

A document is split into sentences and then into disjoint windows of consecutive sentences; each window yields one
(input, output) instance of an objective. A training sequence is ``shots`` instances from *other* windows of the same
document as demonstrations, then the query window's input; the loss is on the query's output. Windows never
overlap, so the query's answer is never inside a demonstration (the leakage the spec warns about).

Objectives (templates are ours; the paper released no code):

* ``nsg`` next sentence generation: sentences → the sentence that follows;
* ``mwp`` masked word prediction: a sentence with 1-3 words blanked as ``___`` (at most one per 4 words) → the
  blanked words in order;
* ``lpp`` last phrase prediction: a sentence without its last 1-4 words → those words;
* ``cls`` classification: two sentences, original or corrupted (order swapped, or one replaced by a sentence of
  another document) → ``True``/``False`` (is the text original?).
"""

from __future__ import annotations

import gzip
import random
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from iclkit.errors import IclkitError
from iclkit.train.examples import TrainExample

WIKITEXT2_DIR = Path(__file__).resolve().parents[1] / "data" / "builtin" / "wikitext2"
OBJECTIVES = ("nsg", "mwp", "lpp", "cls")
TEMPLATES = {
    "nsg": ("{input}\nNext sentence:", " {output}"),
    "mwp": ("{input}\nMissing words:", " {output}"),
    "lpp": ("{input} ...\nEnding:", " {output}"),
    "cls": ("{input}\nIs this text original? True or False?\nAnswer:", " {output}"),
}
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
Instance = tuple[str, str]


def read_corpus(path: str | Path | None = None) -> str:
    """Raw text: ``path`` (``.txt`` or ``.txt.gz``), or the shipped WikiText-2 validation split when ``None``."""
    path = Path(path) if path is not None else WIKITEXT2_DIR / "validation.txt.gz"
    if not path.exists():
        raise IclkitError(f"corpus file {path} does not exist")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise IclkitError(f"cannot read corpus {path}: {exc}") from None


def documents(text: str, *, min_sentences: int = 8) -> list[list[str]]:
    """Split raw text into documents (WikiText ``= Title =`` headings, else blank lines) of sentences."""
    heading = re.compile(r"^\s*= [^=].* =\s*$", re.MULTILINE)
    chunks = heading.split(text) if heading.search(text) else re.split(r"\n\s*\n", text)
    docs = []
    for chunk in chunks:
        lines = [ln.strip() for ln in chunk.splitlines() if ln.strip() and not ln.strip().startswith("=")]
        sentences = [s.strip() for ln in lines for s in _SENTENCE_END.split(ln) if len(s.split()) >= 4]
        if len(sentences) >= min_sentences:
            docs.append(sentences)
    return docs


def _nsg(window: list[str], rng: random.Random, other: list[str]) -> Instance:
    return " ".join(window[:-1]), window[-1]


def _mwp(window: list[str], rng: random.Random, other: list[str]) -> Instance:
    words = window[0].split()
    candidates = [i for i, w in enumerate(words) if w.isalpha() and len(w) > 3] or list(range(len(words)))
    # At most one blank per 4 words, so a short sentence keeps some context instead of becoming "___ ___ ___ .".
    limit = min(rng.randint(1, 3), len(candidates), max(1, len(words) // 4))
    picked = sorted(rng.sample(candidates, limit))
    answer = " ".join(words[i] for i in picked)
    return " ".join("___" if i in picked else w for i, w in enumerate(words)), answer


def _lpp(window: list[str], rng: random.Random, other: list[str]) -> Instance:
    words = window[0].split()
    while len(words) > 3 and not any(c.isalnum() for c in words[-1]):
        words = words[:-1]  # the phrase is words, not the closing punctuation
    n = min(rng.randint(1, 4), len(words) - 2)
    return " ".join(words[:-n]), " ".join(words[-n:])


def _cls(window: list[str], rng: random.Random, other: list[str]) -> Instance:
    first, second = window[0], window[1]
    kind = rng.randrange(3)
    if kind == 0:
        return f"{first} {second}", "True"
    if kind == 1:
        return f"{second} {first}", "False"
    return f"{first} {rng.choice(other)}", "False"


MAKERS: dict[str, tuple[int, Callable[[list[str], random.Random, list[str]], Instance]]] = {
    "nsg": (3, _nsg), "mwp": (1, _mwp), "lpp": (1, _lpp), "cls": (2, _cls),
}  # objective → (sentences per window, maker)


def _render(objective: str, instance: Instance) -> tuple[str, str]:
    fmt_in, fmt_out = TEMPLATES[objective]
    return fmt_in.format(input=instance[0]), fmt_out.format(output=instance[1])


def _sequence(doc: list[str], objective: str, shots: int, rng: random.Random, other: list[str]) -> TrainExample | None:
    size, make = MAKERS[objective]
    windows = [doc[i:i + size] for i in range(0, len(doc) - size + 1, size)]
    if len(windows) < shots + 1:
        return None
    chosen = rng.sample(windows, shots + 1)
    rendered = [_render(objective, make(w, rng, other)) for w in chosen]
    demos, (query_in, query_out) = rendered[:-1], rendered[-1]
    context = "".join(i + o + "\n\n" for i, o in demos) + query_in
    return TrainExample(context, query_out, f"selfsup-{objective}")


def build_selfsup(text: str, *, shots: int, n_examples: int, seed: int,
                  objectives: Sequence[str] = OBJECTIVES) -> list[TrainExample]:
    """``n_examples`` ICL-formatted sequences, objectives mixed uniformly, documents drawn at random."""
    unknown = [o for o in objectives if o not in MAKERS]
    if unknown:
        raise IclkitError(f"unknown self-supervised objective(s) {unknown}; known: {', '.join(OBJECTIVES)}")
    docs = documents(text)
    if len(docs) < 2:
        raise IclkitError("the corpus has fewer than 2 documents of at least 8 sentences; give a larger --corpus")
    rng = random.Random(f"selfsup:{seed}")
    out: list[TrainExample] = []
    for attempt in range(n_examples * 20):
        if len(out) == n_examples:
            break
        d = rng.randrange(len(docs))
        other = docs[(d + 1 + rng.randrange(len(docs) - 1)) % len(docs)]
        example = _sequence(docs[d], objectives[len(out) % len(objectives)], shots, rng, other)
        if example is not None:
            out.append(example)
    if len(out) < n_examples:
        raise IclkitError(f"only {len(out)} of {n_examples} self-supervised sequences fit the corpus's documents "
                          f"with {shots} shots; lower --shots or give a larger --corpus")
    return out
