"""``iclkit tune`` ranks on the pool only: poisoning the evaluation set changes nothing about the search."""

import dataclasses
import json

import pytest
import yaml

from iclkit.config import RunConfig, load_experiment
from iclkit.data.loaders import load_split
from iclkit.errors import IclkitError
from iclkit.pipeline import resolve_task, score_examples
from iclkit.testing import DummyLM
from iclkit.tune import TuneSpace, search, tune

SPACE = TuneSpace(retrievers=("random", "bm25"), shots=(1, 2), calibrations=("none", "contextual", "batch"))


def write(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.setenv("ICLKIT_CACHE", str(tmp_path / "cache"))
    pool = write(tmp_path / "pool.jsonl", [{"text": f"{w} film {i}", "label": lab} for i, (w, lab) in
                                           enumerate([("great", "positive"), ("awful", "negative")] * 20)])
    clean = write(tmp_path / "eval.jsonl", [{"text": f"fine film {i}", "label": "positive"} for i in range(6)])
    poisoned = write(tmp_path / "poison.jsonl", [{"text": f"POISON {i}", "label": "negative"} for i in range(6)])
    corrupt = tmp_path / "corrupt.jsonl"
    corrupt.write_text("{this is not json\n")
    return pool, clean, poisoned, corrupt


def base(pool, eval_file):
    return RunConfig(data_file=str(pool), eval_file=str(eval_file), model="dummy", limit=6)


def test_search_never_reads_the_evaluation_set(files):
    pool, _, _, corrupt = files
    lm = DummyLM(bias={"positive": 0.3})
    # an unreadable evaluation file does not matter to the search: it is never opened
    ranking = search(base(pool, corrupt), resolve_task(base(pool, corrupt)), lm, SPACE, dev_size=20,
                     log=lambda s: None)
    assert len(ranking) == 4 * 3
    assert not any("fine film" in r.context or "POISON" in r.context for r in lm.calls)
    assert [r.accuracy for r in ranking] == sorted((r.accuracy for r in ranking), reverse=True)
    assert all(r.low <= r.accuracy <= r.high and r.n == 20 for r in ranking)


def test_tune_choice_is_identical_with_a_poisoned_evaluation_set(files, tmp_path):
    pool, clean, poisoned, _ = files
    results = []
    for name, eval_file in (("clean", clean), ("poisoned", poisoned)):
        lm = DummyLM(bias={"positive": 0.3})
        results.append(tune(base(pool, eval_file), SPACE, out=tmp_path / name, dev_size=20, lm=lm,
                            log=lambda s: None))
        alone = DummyLM()
        search(base(pool, eval_file), resolve_task(base(pool, eval_file)), alone, SPACE, dev_size=20,
               log=lambda s: None)
        evaluated = [i for i, c in enumerate(lm.calls) if "POISON" in c.context or "fine film" in c.context]
        assert evaluated and min(evaluated) >= len(alone.calls)  # the evaluation set is read only after the search
    clean_result, poisoned_result = results
    assert [r.settings for r in clean_result.ranking] == [r.settings for r in poisoned_result.ranking]
    assert clean_result.best == dataclasses.replace(poisoned_result.best, eval_file=str(clean))
    names = [e["name"] for e in clean_result.evaluation]
    assert names == ["tuned", "zero-shot", "8-shot random"]
    assert clean_result.evaluation[0]["n"] == 6


def test_saved_choice_is_a_config_iclkit_run_accepts(files, tmp_path):
    pool, clean, _, _ = files
    result = tune(base(pool, clean), SPACE, out=tmp_path / "t", dev_size=20, budget=2, lm=DummyLM(),
                  log=lambda s: None)
    _, variants = load_experiment(tmp_path / "t" / "best.yaml")
    assert variants[0].config.retriever == result.ranking[0].settings["retriever"]
    assert variants[0].config.calibration == result.ranking[0].settings["calibration"]
    assert yaml.safe_load((tmp_path / "t" / "best.yaml").read_text())["shots"] in (1, 2)
    assert len({(r.settings["retriever"], r.settings["shots"]) for r in result.ranking}) == 2  # budget


def test_too_small_dev_slice_is_an_error(files):
    pool, clean, _, _ = files
    with pytest.raises(IclkitError, match="dev_size=5 is too small"):
        search(base(pool, clean), resolve_task(base(pool, clean)), DummyLM(), SPACE, dev_size=5)


def test_a_pool_that_is_also_the_evaluation_set_is_refused(files):
    pool, _, _, _ = files
    config = RunConfig(data_file=str(pool), model="dummy")
    with pytest.raises(IclkitError, match="same file"):
        search(config, resolve_task(config), DummyLM(), SPACE, dev_size=20)


def test_content_free_prompts_are_scored_only_when_contextual_calibration_is_searched(files):
    pool, clean, _, _ = files
    space = TuneSpace(retrievers=("bm25",), shots=(2,), calibrations=("none", "batch"))
    with_cc = dataclasses.replace(space, calibrations=("none", "contextual", "batch"))
    costs = []
    for sp in (space, with_cc):
        ranking = search(base(pool, clean), resolve_task(base(pool, clean)), DummyLM(), sp, dev_size=20,
                         log=lambda s: None)
        assert {r.settings["calibration"] for r in ranking} == set(sp.calibrations)
        costs.append(ranking[0].cost["loglikelihood_requests"])
    # 20 dev queries x 2 labels; contextual adds 3 content-free inputs x 2 labels for every distinct prefix
    assert costs[0] == 20 * 2 and costs[1] > costs[0] and (costs[1] - costs[0]) % (3 * 2) == 0


@pytest.mark.parametrize("retriever", ["balanced", "random"])
def test_the_ranked_fixed_set_is_the_one_evaluated(files, retriever):
    # A fixed-set retriever's dev score must be that of the set the evaluation run uses: drawing k + 1 and dropping
    # the query (needed for per-query retrievers) gave balanced another set, so tune ranked one set and ran another.
    pool_file, clean, _, _ = files
    config = dataclasses.replace(base(pool_file, clean), retriever=retriever, shots=2)
    task = resolve_task(config)
    pool = load_split(task, "train")
    evaluated, _ = score_examples(config, task, DummyLM(), pool, load_split(task, "eval"))
    fixed = evaluated[0].demo_ids
    assert all(r.demo_ids == fixed for r in evaluated)
    dev, _ = score_examples(config, task, DummyLM(), pool, pool, pool_is_eval=True)
    assert all(r.demo_ids == fixed for r in dev if r.example_id not in fixed)
    inside = [r for r in dev if r.example_id in fixed]
    assert len(inside) == 2 and all(r.example_id not in r.demo_ids and len(r.demo_ids) == 2 for r in inside)
