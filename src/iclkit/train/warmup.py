"""Warmup data builders over labelled tasks (SPEC-icl-methods §E1-E3, E5). Deterministic from a seed.

Each builder samples up to ``per_task`` query examples per task; every query gets ``shots`` demonstrations drawn
uniformly without replacement from the *same* task's other examples (never the query itself), and becomes one
:class:`~iclkit.train.examples.TrainExample` whose target is the query's output only. ``shots=0`` is the
no-demonstration control (MetaICL's "multi-task zero-shot" baseline): same queries, same outputs, no context.

* ``metaicl`` (Min et al. 2021): raw input/label words, ``"\\n"`` between input and output, ``"\\n\\n\\n"`` between
  examples, no template; ``channel=True`` swaps the roles (label first, the input is the target).
* ``icl-tuning`` (Chen et al. 2021): the task's own template and verbalizer (its channel template for channel).
  ``label_loss="restricted"`` is the paper's loss, a softmax over the verbalizer tokens only (direct only); the
  default ``"lm"`` is the ordinary LM loss on the label tokens. ``templates > 1`` draws each query's template from
  the task's own and ``templates - 1`` generic ones (:data:`ICT_TEMPLATES`), as the paper samples one of several
  templates per task.
* ``instruct`` (FLAN, Wei et al. 2021): one of several instruction templates per example, label options listed;
  a share of examples also carries exemplars in the same template (Flan-2022's few-shot templates).
* ``symbol`` (Wei et al. 2023): no instructions; labels remapped to arbitrary symbols (integers, letter strings,
  unrelated words), a fresh bijection per prompt; demonstrations cover every label when ``shots`` allows.
  ``instruct_share`` replaces that share of the prompts with ``instruct`` prompts, as the paper mixes instruction
  data into symbol tuning to keep instruction following.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from iclkit.data.spec import TaskSpec, TemplateSpec
from iclkit.errors import IclkitError
from iclkit.prompt.render import PromptBuilder
from iclkit.train.examples import TrainExample
from iclkit.types import Example

METAICL_PAIR_SEP = "\n"
METAICL_EXAMPLE_SEP = "\n\n\n"


@dataclass(frozen=True)
class TaskData:
    """A task and its training pool (labelled examples)."""

    spec: TaskSpec
    pool: tuple[Example, ...]


def input_text(spec: TaskSpec, example: Example) -> str:
    """The raw input: the input fields joined by a space (MetaICL concatenates multi-field inputs the same way)."""
    return " ".join(example.fields[f] for f in spec.input_fields)


def _queries(task: TaskData, per_task: int, rng: random.Random) -> list[int]:
    labelled = [i for i, ex in enumerate(task.pool) if ex.label is not None]
    if len(labelled) < 2:
        raise IclkitError(f"task '{task.spec.name}' has fewer than 2 labelled training examples")
    return rng.sample(labelled, min(per_task, len(labelled)))


def _demos(task: TaskData, query: int, shots: int, rng: random.Random) -> list[Example]:
    others = [i for i, ex in enumerate(task.pool) if i != query and ex.label is not None
              and ex.fields != task.pool[query].fields]
    return [task.pool[i] for i in rng.sample(others, min(shots, len(others)))]


def _each_query(tasks: Sequence[TaskData], per_task: int, seed: int, method: str):
    """(task, query, rng) for every sampled query; one rng per task so adding a task leaves the others unchanged."""
    for task in tasks:
        rng = random.Random(f"{method}:{seed}:{task.spec.name}")
        for q in _queries(task, per_task, rng):
            yield task, task.pool[q], q, rng


def build_metaicl(tasks: Sequence[TaskData], *, shots: int, per_task: int, seed: int,
                  channel: bool = False) -> list[TrainExample]:
    out = []
    for task, query, q, rng in _each_query(tasks, per_task, seed, "metaicl"):
        spec = task.spec
        pairs = [(input_text(spec, d), spec.verbalizer[d.label]) for d in _demos(task, q, shots, rng)]
        x, y = input_text(spec, query), spec.verbalizer[query.label]
        if channel:
            pairs, (x, y) = [(b, a) for a, b in pairs], (y, x)
        shown = [a + METAICL_PAIR_SEP + b for a, b in pairs]
        context = "".join(s + METAICL_EXAMPLE_SEP for s in shown) + x
        out.append(TrainExample(context, METAICL_PAIR_SEP + y, spec.name))
    return out


# Generic direct templates for in-context tuning's several templates per task ({inputs}: the input fields, in order,
# joined by a space); the task's own template always comes first.
ICT_TEMPLATES = (
    ("Input: {inputs}\nLabel:", "\n\n"),
    ("{inputs}\nAnswer:", "\n\n"),
    ("Text: {inputs}\nCategory:", "\n\n"),
    ("{inputs} =>", "\n"),
)
LABEL_LOSSES = ("lm", "restricted")


def icl_tuning_templates(spec: TaskSpec, n: int) -> list[TemplateSpec]:
    """The task's own template and the first ``n - 1`` of :data:`ICT_TEMPLATES` filled with its input fields."""
    if not 1 <= n <= 1 + len(ICT_TEMPLATES):
        raise IclkitError(f"--templates must be between 1 and {1 + len(ICT_TEMPLATES)}, got {n}")
    inputs = " ".join("{" + f + "}" for f in spec.input_fields)
    return [spec.template] + [TemplateSpec(input=text.format(inputs=inputs), answer=" {label}", separator=sep)
                              for text, sep in ICT_TEMPLATES[:n - 1]]


def build_icl_tuning(tasks: Sequence[TaskData], *, shots: int, per_task: int, seed: int, channel: bool = False,
                     label_loss: str = "lm", templates: int = 1) -> list[TrainExample]:
    if label_loss not in LABEL_LOSSES:
        raise IclkitError(f"unknown label loss '{label_loss}'; choose from {', '.join(LABEL_LOSSES)}")
    if channel and (label_loss != "lm" or templates != 1):
        raise IclkitError("channel in-context tuning scores the input, so it takes neither the restricted label "
                          "loss nor several templates")
    per_task_templates = {t.spec.name: icl_tuning_templates(t.spec, templates) for t in tasks}
    out = []
    for task, query, q, rng in _each_query(tasks, per_task, seed, "icl-tuning"):
        spec = task.spec
        if channel:
            template = spec.channel()
        else:
            # one template: no draw, so the data stays what it was before several templates existed
            choices = per_task_templates[spec.name]
            template = rng.choice(choices) if templates > 1 else choices[0]
        prompt = PromptBuilder(template, spec.labels, spec.verbalizer).build(query, _demos(task, q, shots, rng))
        gold = prompt.labels.index(query.label)
        restricted = ()
        if label_loss == "restricted":
            if len(set(prompt.contexts)) != 1:
                raise IclkitError(f"task '{spec.name}': the restricted label loss needs a template that ends with "
                                  "the label (one context for every label)")
            restricted = prompt.continuations
        out.append(TrainExample(prompt.contexts[gold], prompt.continuations[gold], spec.name, restricted))
    return out


# FLAN-style instruction templates: {description}, {input}, {options} (one "- x" per line), {choices} (inline).
INSTRUCTION_TEMPLATES = (
    "{description}\n\n{input}\n\nOPTIONS:\n{options}\nAnswer:",
    "{input}\n\nWhat is the correct label for the text above? Choose from: {choices}.\nLabel:",
    "Task: {description}\nText: {input}\nAnswer with one of: {choices}.\nAnswer:",
    "Read the text and classify it ({choices}).\n\n{input}\nClass:",
)


def _instruction_input(spec: TaskSpec, example: Example) -> str:
    if len(spec.input_fields) == 1:
        return example.fields[spec.input_fields[0]]
    return "\n".join(f"{f.capitalize()}: {example.fields[f]}" for f in spec.input_fields)


def task_instruction(spec: TaskSpec) -> str:
    """The task statement shown by the instruction templates: the template's own instruction when it has one,
    else the catalogue description up to its first ";". What follows the ";" in the shipped descriptions is a note
    about iclkit's splits ("eval is the labelled validation split"), which is no instruction to train on."""
    if spec.template.instruction:
        return spec.template.instruction
    text = (spec.description or "").split(";")[0].strip().rstrip(".")
    return f"{text}." if text else f"Classify the {spec.name} example."


def _render_instruction(template: str, spec: TaskSpec, example: Example) -> str:
    words = [spec.verbalizer[lab] for lab in spec.labels]
    return template.format(description=task_instruction(spec),
                           input=_instruction_input(spec, example), options="\n".join(f"- {w}" for w in words),
                           choices=", ".join(words))


def build_instruct(tasks: Sequence[TaskData], *, shots: int, per_task: int, seed: int, channel: bool = False,
                   fewshot_share: float = 0.5) -> list[TrainExample]:
    if channel:
        raise IclkitError("--channel applies to metaicl and icl-tuning, not to instruct")
    out = []
    for task, query, q, rng in _each_query(tasks, per_task, seed, "instruct"):
        spec = task.spec
        template = rng.choice(INSTRUCTION_TEMPLATES)
        k = shots if rng.random() < fewshot_share else 0
        shown = [_render_instruction(template, spec, d) + " " + spec.verbalizer[d.label]
                 for d in _demos(task, q, k, rng)]
        context = "".join(s + "\n\n" for s in shown) + _render_instruction(template, spec, query)
        out.append(TrainExample(context, " " + spec.verbalizer[query.label], spec.name))
    return out


UNRELATED_WORDS = (
    "apple", "river", "candle", "violin", "pepper", "marble", "falcon", "ladder", "copper", "tulip", "glacier",
    "button", "saddle", "lantern", "walnut", "harbor", "pencil", "thunder", "meadow", "anchor", "basket", "cactus",
    "dragon", "engine", "feather", "garlic", "hammer", "igloo", "jacket", "kettle", "lemon", "magnet", "needle",
    "orbit", "pillow", "quartz", "rocket", "silver", "tiger", "umbrella", "velvet", "wagon", "yacht", "zebra",
)


def random_symbol(rng: random.Random) -> str:
    """One symbol from the three pools of Wei et al. 2023: an integer, a random letter string, an unrelated word."""
    kind = rng.randrange(3)
    if kind == 0:
        return str(rng.randrange(10_000))
    if kind == 1:
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 4)))
    return rng.choice(UNRELATED_WORDS)


def symbol_map(labels: Sequence[str], rng: random.Random) -> dict[str, str]:
    """A label → symbol bijection (no symbol used twice in one prompt)."""
    symbols: list[str] = []
    while len(symbols) < len(labels):
        s = random_symbol(rng)
        if s not in symbols:
            symbols.append(s)
    return dict(zip(labels, symbols))


def _covering_demos(task: TaskData, q: int, shots: int, rng: random.Random) -> list[Example]:
    """``shots`` demonstrations with every label present at least once when ``shots`` >= the number of labels.

    With fewer shots than labels (TREC's 6 or SST-5's 5 at 4 shots) the demonstrations show distinct labels, the
    query's among them: a symbol the prompt never shows cannot be inferred, so such a prompt would teach nothing
    but noise. (Before this, the demonstrations were drawn at random in that case.)"""
    demos = _demos(task, q, len(task.pool), rng)
    first = {}
    for d in demos:
        first.setdefault(d.label, d)
    if shots >= len(first):
        chosen = list(first.values())
    else:
        own = task.pool[q].label
        chosen = ([first[own]] if own in first else []) + [d for label, d in first.items() if label != own]
        chosen = chosen[:shots]
    chosen += [d for d in demos if d not in chosen][:shots - len(chosen)]
    rng.shuffle(chosen)
    return chosen


def build_symbol(tasks: Sequence[TaskData], *, shots: int, per_task: int, seed: int, channel: bool = False,
                 instruct_share: float = 0.0) -> list[TrainExample]:
    if channel:
        raise IclkitError("--channel applies to metaicl and icl-tuning, not to symbol")
    if not 0.0 <= instruct_share <= 1.0:
        raise IclkitError(f"--instruct-share must be between 0 and 1, got {instruct_share}")
    out = []
    for task, query, q, rng in _each_query(tasks, per_task, seed, "symbol"):
        spec = task.spec
        symbols = symbol_map(spec.labels, rng)
        shown = [f"Input: {input_text(spec, d)}\nOutput: {symbols[d.label]}" for d in _covering_demos(task, q, shots, rng)]
        context = "".join(s + "\n\n" for s in shown) + f"Input: {input_text(spec, query)}\nOutput:"
        out.append(TrainExample(context, " " + symbols[query.label], spec.name))
    if instruct_share:
        out = _mix(out, build_instruct(tasks, shots=shots, per_task=per_task, seed=seed), instruct_share,
                   random.Random(f"symbol-instruct-mix:{seed}"))
    return out


def _mix(main: list[TrainExample], other: list[TrainExample], share: float,
         rng: random.Random) -> list[TrainExample]:
    """Position by position, ``other``'s example with probability ``share``, else ``main``'s (same length: both
    builders sample the same number of queries per task)."""
    return [b if rng.random() < share else a for a, b in zip(main, other, strict=True)]


TASK_BUILDERS: dict[str, Callable[..., list[TrainExample]]] = {
    "metaicl": build_metaicl,
    "icl-tuning": build_icl_tuning,
    "instruct": build_instruct,
    "symbol": build_symbol,
}
