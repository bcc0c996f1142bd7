"""Verifiable reasoning tasks generated from a seed, and user question/answer files. No model, no prompt text.

Every built-in task is a pure function of ``(split, seed, options)``: any size can be made offline and re-made
exactly. Each example carries, besides ``question`` and its gold answer (``Example.label``), the worked solution
the prompt formats need for demonstrations:

* ``rationale``: a hand-written-style chain of thought ending *before* "The answer is" (few-shot CoT, Wei et al.);
* ``steps``: JSON ``[[sub_question, sub_answer, sub_solution], ...]`` in solving order (Self-Ask follow-ups,
  Least-to-Most sub-problems); the last sub-answer is the final answer.

Tasks: ``last_letters`` (``n_words``), ``coin_flip`` (``n_flips``: people who may flip), ``arithmetic``
(``n_steps`` operations), ``two_hop`` (compositional questions over a generated knowledge base; its facts are in
the question, and :class:`KnowledgeBase` answers follow-up questions as a lookup tool).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iclkit.errors import IclkitError, did_you_mean
from iclkit.types import Example

ANSWER_KINDS = ("text", "number", "yesno")
DEFAULT_SIZES = {"train": 200, "eval": 500}

# Made-up names: the model cannot know facts about them, so two-hop answers must come from the facts/tool.
_SYLLABLES = ("ka", "lo", "mi", "ren", "sa", "tor", "vel", "an", "dri", "bo", "ne", "quin", "za", "fe", "lu", "mar")
# Common first names (as Kojima et al.'s last-letter data) with varied last letters.
_WORDS = ("Elon", "Larry", "Sergey", "Bill", "Jeff", "Tim", "Mark", "Susan", "Grace", "Alan", "Ada", "Linus",
          "Donald", "Barbara", "Frances", "Ken", "Dennis", "Bjarne", "Guido", "Margaret", "Katherine", "Edsger",
          "Tony", "Niklaus", "Radia", "Shafi", "Judea", "Leslie", "Yann", "Geoffrey", "Fei", "Andrew", "Raj",
          "Carmen", "Olga", "Pedro", "Ingrid", "Hugo", "Zoe", "Maya", "Omar", "Ivan", "Lucy", "Felix", "Nora")


@dataclass(frozen=True)
class GenTask:
    """A generation task: question → answer. ``pool`` are demonstration candidates, ``eval`` the test set."""

    name: str
    answer_kind: str
    pool: tuple[Example, ...]
    eval: tuple[Example, ...]
    kb: KnowledgeBase | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


def _steps(*triples: tuple[str, str, str]) -> str:
    return json.dumps([list(t) for t in triples])


# --------------------------------------------------------------------------------------------- last letters
def last_letters(rng: random.Random, n_words: int = 4) -> tuple[dict[str, str], str]:
    words = rng.sample(_WORDS, n_words)
    joined = ", ".join(words)
    answer = "".join(w[-1] for w in words).lower()
    sentences = [f'The last letter of "{w}" is "{w[-1].lower()}".' for w in words]
    rationale = " ".join(sentences) + f' Concatenating them gives "{answer}".'
    steps = []
    for k in range(1, n_words + 1):
        prefix = ", ".join(words[:k])
        sub = "".join(w[-1] for w in words[:k]).lower()
        if k == 1:
            solution = f'The last letter of "{words[0]}" is "{sub}".'
        else:
            before = "".join(w[-1] for w in words[: k - 1]).lower()
            solution = (f'"{", ".join(words[:k - 1])}" outputs "{before}". The last letter of "{words[k - 1]}" is '
                        f'"{words[k - 1][-1].lower()}". Concatenating "{before}", "{words[k - 1][-1].lower()}" '
                        f'gives "{sub}".')
        steps.append((f'"{prefix}"', sub, solution))
    question = f'Take the last letters of the words in "{joined}" and concatenate them.'
    return {"question": question, "words": joined, "rationale": rationale, "steps": _steps(*steps)}, answer


# --------------------------------------------------------------------------------------------- coin flip
def coin_flip(rng: random.Random, n_flips: int = 4) -> tuple[dict[str, str], str]:
    people = rng.sample(_WORDS, n_flips)
    flips = [rng.random() < 0.5 for _ in people]
    sentences = [f"{p} {'flips' if f else 'does not flip'} the coin." for p, f in zip(people, flips)]
    question = "A coin is heads up. " + " ".join(sentences) + " Is the coin still heads up?"
    n = sum(flips)
    answer = "yes" if n % 2 == 0 else "no"
    rationale = (f"The coin was flipped {n} time{'s' if n != 1 else ''}. "
                 f"{'An even' if n % 2 == 0 else 'An odd'} number of flips leaves it "
                 f"{'heads up' if n % 2 == 0 else 'tails up'}.")
    steps, heads = [], True
    for p, f in zip(people, flips):
        heads = heads != f
        state = "heads up" if heads else "tails up"
        steps.append((f"Is the coin heads up after {p}'s turn?", "yes" if heads else "no",
                      f"{p} {'flips' if f else 'does not flip'} the coin, so it is {state}."))
    steps.append(("Is the coin still heads up?", answer, f"The coin ends {state}, so the answer is {answer}."))
    return {"question": question, "rationale": rationale, "steps": _steps(*steps)}, answer


# --------------------------------------------------------------------------------------------- arithmetic
_OPS: dict[str, tuple[str, Callable[[int, int], int]]] = {
    "add": ("Add {b}.", lambda a, b: a + b), "sub": ("Subtract {b}.", lambda a, b: a - b),
    "mul": ("Multiply by {b}.", lambda a, b: a * b)}
_SYMBOL = {"add": "+", "sub": "-", "mul": "*"}


def arithmetic(rng: random.Random, n_steps: int = 3) -> tuple[dict[str, str], str]:
    value = rng.randint(2, 20)
    text, steps, work = [f"Start with {value}."], [], []
    for _ in range(n_steps):
        op = rng.choice(("add", "sub", "mul") if abs(value) < 50 else ("add", "sub"))
        b = rng.randint(2, 5) if op == "mul" else rng.randint(1, 20)
        phrase, fn = _OPS[op]
        new = fn(value, b)
        text.append(phrase.format(b=b))
        line = f"{value} {_SYMBOL[op]} {b} = {new}."
        work.append(line)
        steps.append((f"What is {value} {_SYMBOL[op]} {b}?", str(new), line))
        value = new
    question = " ".join(text) + " What is the result?"
    return {"question": question, "rationale": " ".join(work), "steps": _steps(*steps)}, str(value)


# --------------------------------------------------------------------------------------------- two-hop / KB
@dataclass(frozen=True)
class KnowledgeBase:
    """Generated facts: each person's mother and birth city, each city's country. Also the Self-Ask lookup tool."""

    mother: Mapping[str, str]
    born_in: Mapping[str, str]
    country: Mapping[str, str]

    @classmethod
    def generate(cls, seed: int, n_people: int = 60) -> KnowledgeBase:
        rng = random.Random(f"kb-{seed}")
        names = _unique_names(rng, n_people + 30)
        people, places = names[:n_people], names[n_people:]
        cities, countries = places[:20], places[20:]
        mother = {p: rng.choice([q for q in people if q != p]) for p in people}
        return cls(mother=mother, born_in={p: rng.choice(cities) for p in people},
                   country={c: rng.choice(countries) for c in cities})

    def fact(self, relation: str, subject: str) -> str:
        if relation == "mother":
            return f"The mother of {subject} is {self.mother[subject]}."
        if relation == "born_in":
            return f"{subject} was born in {self.born_in[subject]}."
        return f"{subject} is in {self.country[subject]}."

    def lookup(self, question: str) -> str | None:
        """Answer a one-hop question naming one entity ("Who is the mother of Kalo?", "Where was Kalo born?",
        "Which country is Vel in?"), or ``None`` when it is not understood (the LM then answers itself)."""
        q = question.lower()
        for name in sorted({*self.mother, *self.country}, key=len, reverse=True):
            if re.search(rf"\b{re.escape(name.lower())}\b", q):
                if "mother" in q and name in self.mother:
                    return self.mother[name]
                if ("born" in q or "birth" in q) and name in self.born_in:
                    return self.born_in[name]
                if "country" in q and name in self.country:
                    return self.country[name]
        return None


def _unique_names(rng: random.Random, n: int) -> list[str]:
    names: list[str] = []
    while len(names) < n:
        name = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
        if name not in names:
            names.append(name)
    return names


_TWO_HOP = (  # (question, first relation, second relation, first follow-up, second follow-up)
    ("In which city was the mother of {p} born?", "mother", "born_in",
     "Who is the mother of {p}?", "Where was {x} born?"),
    ("In which country was {p} born?", "born_in", "country", "Where was {p} born?", "Which country is {x} in?"),
    ("Who is the grandmother of {p} on the mother's side?", "mother", "mother",
     "Who is the mother of {p}?", "Who is the mother of {x}?"),
)


def two_hop(rng: random.Random, kb: KnowledgeBase, n_distractors: int = 2) -> tuple[dict[str, str], str]:
    question, rel1, rel2, follow1, follow2 = rng.choice(_TWO_HOP)
    person = rng.choice(sorted(kb.mother))
    middle = kb.mother[person] if rel1 == "mother" else kb.born_in[person]
    answer = kb.mother[middle] if rel2 == "mother" else (kb.born_in[middle] if rel2 == "born_in"
                                                        else kb.country[middle])
    facts = [kb.fact(rel1, person), kb.fact(rel2, middle)]
    for other in rng.sample(sorted(kb.mother), n_distractors):
        facts.append(kb.fact(rng.choice(("mother", "born_in")), other))
    rng.shuffle(facts)
    facts = list(dict.fromkeys(facts))
    first, second = kb.fact(rel1, person), kb.fact(rel2, middle)
    steps = [(follow1.format(p=person), middle, first), (follow2.format(x=middle), answer, second)]
    text = " ".join(facts) + " " + question.format(p=person)
    return {"question": text, "rationale": f"{first} {second}", "steps": _steps(*steps)}, answer


# --------------------------------------------------------------------------------------------- registry
_GENERATORS: dict[str, tuple[str, Callable[..., tuple[dict[str, str], str]], dict[str, Any]]] = {
    "last_letters": ("text", last_letters, {"n_words": 4}),
    "coin_flip": ("yesno", coin_flip, {"n_flips": 4}),
    "arithmetic": ("number", arithmetic, {"n_steps": 3}),
    "two_hop": ("text", two_hop, {}),
}
REASONING_TASKS = tuple(_GENERATORS)
GENERATOR_OPTIONS = {name: dict(defaults) for name, (_, _, defaults) in _GENERATORS.items()}


def is_reasoning_task(name: str) -> bool:
    return name in _GENERATORS


def make_task(name: str, *, seed: int = 0, options: Mapping[str, Any] | None = None) -> GenTask:
    """Generate a built-in reasoning task. ``options``: the generator's own (e.g. ``n_words``), plus ``n_pool`` and
    ``n_eval`` (sizes) and ``pool_<option>`` to generate the pool differently from the test set (length
    generalisation: ``n_words: 6, pool_n_words: 2``). The same seed and options always give the same examples."""
    if name not in _GENERATORS:
        raise IclkitError(f"unknown reasoning task '{name}'{did_you_mean(name, REASONING_TASKS)}")
    kind, fn, defaults = _GENERATORS[name]
    options = dict(options or {})
    sizes = {"train": options.pop("n_pool", DEFAULT_SIZES["train"]), "eval": options.pop("n_eval", DEFAULT_SIZES["eval"])}
    pool_over = {k[5:]: options.pop(k) for k in list(options) if k.startswith("pool_")}
    allowed = set(defaults) | ({"n_distractors"} if name == "two_hop" else set())
    for key in [*options, *pool_over]:
        if key not in allowed:
            raise IclkitError(f"task '{name}': unknown option '{key}'{did_you_mean(key, sorted(allowed))}; "
                              f"options: n_pool, n_eval, {', '.join(sorted(allowed)) or '(none)'}")
    kb = KnowledgeBase.generate(seed) if name == "two_hop" else None
    splits = {}
    for split, n in sizes.items():
        kwargs = {**defaults, **options, **(pool_over if split == "train" else {})}
        rng = random.Random(f"{name}-{split}-{seed}")
        rows = [fn(rng, kb, **kwargs) if kb else fn(rng, **kwargs) for _ in range(int(n))]
        splits[split] = tuple(Example(id=f"{split}{i}", fields=f, label=a) for i, (f, a) in enumerate(rows))
    return GenTask(name, kind, splits["train"], splits["eval"], kb, {**defaults, **options})


def qa_task(path: str | Path, *, question_field: str = "question", answer_field: str = "answer",
            eval_path: str | Path | None = None, answer_kind: str = "text") -> GenTask:
    """A user's question/answer JSONL (one object per line). The pool is ``path``; the test set ``eval_path``
    (default: the same file, a query never being its own demonstration)."""
    if answer_kind not in ANSWER_KINDS:
        raise IclkitError(f"answer_kind must be one of {', '.join(ANSWER_KINDS)}, not {answer_kind!r}")
    pool = _read_qa(Path(path), question_field, answer_field)
    evals = _read_qa(Path(eval_path), question_field, answer_field) if eval_path else pool
    return GenTask(Path(path).stem, answer_kind, pool, evals)


def _read_qa(path: Path, question_field: str, answer_field: str) -> tuple[Example, ...]:
    if not path.exists():
        raise IclkitError(f"{path}: no such file")
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise IclkitError(f"{path}: line {lineno} is not JSON ({exc})") from None
        for key in (question_field, answer_field):
            if not isinstance(obj, dict) or obj.get(key) in (None, ""):
                raise IclkitError(f"{path}: line {lineno} has no '{key}' field"
                                  f"{did_you_mean(key, list(obj) if isinstance(obj, dict) else [])}")
        fields = {k: str(v) for k, v in obj.items() if k not in (answer_field, "id")}
        fields["question"] = str(obj[question_field])
        rows.append(Example(id=str(obj.get("id", f"row{lineno}")), fields=fields, label=str(obj[answer_field])))
    if not rows:
        raise IclkitError(f"{path}: no examples")
    return tuple(rows)

