"""The OpenAI-compatible back-end against a real server: llama-cpp-python's, serving the embedded SmolLM2 GGUF.

Fault injection (429/503/400, counting requests in flight) goes through a small HTTP proxy on loopback in front of
that real server; every score still comes from the model.

The server is started with ``tokenizer.ggml.add_bos_token`` forced on: llama-cpp-python (0.3.36) reads the logits
for echoed prompt tokens one position late when a model adds no BOS (SmolLM2 does not), so without a BOS its prompt
log-probabilities are wrong, not merely different. With the override it scores ``<|im_start|> + prompt``; the HF
reference below is given the same text, so both score the same tokens.
"""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest.importorskip("llama_cpp.server")

from iclkit.errors import BackendError, IclkitError
from iclkit.lm.base import GenRequest
from iclkit.lm.openai_api import OpenAICompletionsLM
from iclkit.lm.openai_replies import PromptText, continuation_start, result_from_choice, retry_after_seconds
from iclkit.testing import assert_lm_contract
from iclkit.types import LLRequest

MODEL = "smollm2-135m"
BOS_TEXT = "<|im_start|>"  # SmolLM2's BOS, which the test server prepends (see the module docstring)
# Measured on the 20 label log-probs of the 10 zero-shot SST-2 prompts below (server vs HFLM given the same
# BOS-prefixed text): max |Δ| = 0.26, mean 0.11 nats (0.32 / 0.12 on 2-shot prompts). The server's numbers equal
# llama_cpp.Llama's own to every printed digit, so Δ is llama.cpp's Q4_1 arithmetic (8-bit quantised activations;
# the large activations at a BOS position make that coarser) against HF's fp32 dequantised weights. The bounds leave
# about 2x room for other CPUs' kernels; a wrong token span or the one-position shift described above moves a label's
# log-prob by several nats (against HF *without* the BOS, max |Δ| is already 1.3).
HF_AGREEMENT_MAX_ATOL = 0.5
HF_AGREEMENT_MEAN_ATOL = 0.2
SERVER_START_TIMEOUT = 120.0


# ----------------------------------------------------------------------------------------------- the real server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_command(port: int, *, logits_all: bool) -> list[str]:
    # iclkit's launcher: llama_cpp.server with llama.cpp's repacked CPU weights off (they crash on some AMX CPUs)
    # and the embedded name resolved to its GGUF file (and used as the model's alias)
    return [
        sys.executable, "-m", "iclkit.lm.llama_server", "--model", MODEL,
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
        # one thread: ggml's worker threads spin while waiting for each other, which on a busy 2-core machine made
        # a 2-token decode take seconds instead of milliseconds
        "--n_threads", "1", "--n_threads_batch", "1",
        "--logits_all", str(logits_all),  # what makes echo + logprobs possible (llama-cpp-python's default: True)
        "--kv_overrides", "tokenizer.ggml.add_bos_token=bool:true",
        "--verbose", "False",
    ]


@contextmanager
def _llama_server(tmp_path, *, logits_all: bool = True):
    """Start ``python -m iclkit.lm.llama_server`` on a free port; yield its ``/v1`` URL; stop it afterwards."""
    port = _free_port()
    log_path = tmp_path / f"llama-server-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(_server_command(port, logits_all=logits_all), stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_up(base_url, proc, log_path)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_until_up(base_url: str, proc: subprocess.Popen, log_path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    tail = log_path.read_text(errors="replace")[-3000:]
    state = f"exited with {proc.returncode}" if proc.poll() is not None else "not answering"
    pytest.fail(f"llama_cpp.server {state} after starting ({base_url}); its output:\n{tail}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with _llama_server(tmp_path_factory.mktemp("llama-server")) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def lm(server):
    from iclkit.lm.backends import load_backend

    lm = load_backend("openai", MODEL, options={"base_url": server, "concurrency": 4})
    yield lm
    lm.close()


@pytest.fixture(scope="module")
def hf():
    from iclkit.lm.hf import HFLM

    return HFLM.load(MODEL)


# ----------------------------------------------------------------------------------------------- the launcher
def test_launcher_loads_without_repacked_weights_and_resolves_embedded_names(monkeypatch):
    # The server's models must load with use_extra_bufts=False: llama.cpp's repacked (AMX/AVX-512) CPU weights
    # crash Llama.eval on some CPUs. llama-cpp-python's own loader keeps llama.cpp's default (on).
    from llama_cpp.server.model import LlamaProxy
    from llama_cpp.server.settings import ModelSettings

    from iclkit.lm import llama_server
    from iclkit.lm.models import EMBEDDED

    monkeypatch.setattr(LlamaProxy, "load_llama_from_model_settings",
                        LlamaProxy.__dict__["load_llama_from_model_settings"])  # restored after the test
    gguf = str(EMBEDDED[MODEL].locate_gguf())
    plain = LlamaProxy.load_llama_from_model_settings(ModelSettings(model=gguf, vocab_only=True, verbose=False))
    assert plain.model_params.use_extra_bufts is True
    plain.close()
    llama_server.install()
    llama_server.install()  # idempotent: wrapped once
    llama = LlamaProxy.load_llama_from_model_settings(ModelSettings(model=MODEL, vocab_only=True, verbose=False))
    assert llama.model_params.use_extra_bufts is False
    assert llama.model_path == gguf
    llama.close()


def test_launcher_unknown_model_is_one_line_exit_2(capsys, monkeypatch):
    from llama_cpp.server.model import LlamaProxy

    from iclkit.lm import llama_server

    monkeypatch.setattr(LlamaProxy, "load_llama_from_model_settings",
                        LlamaProxy.__dict__["load_llama_from_model_settings"])
    assert llama_server.main(["--model", "smollm2-135"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "did you mean 'smollm2-135m'" in err


# ----------------------------------------------------------------------------------------------- fault proxy
class FaultProxy:
    """An HTTP proxy on loopback: answers the first requests from ``faults`` (status, headers, JSON body), forwards
    the rest to ``upstream``, and counts requests and the most in flight at once."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.faults: list[tuple[int, dict[str, str], dict]] = []
        self.requests = 0
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler_class(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self._handle(None)

            def do_POST(self):
                self._handle(self.rfile.read(int(self.headers.get("Content-Length", 0))))

            def _handle(self, body: bytes | None) -> None:
                with proxy._lock:
                    proxy.requests += 1
                    proxy._in_flight += 1
                    proxy.max_in_flight = max(proxy.max_in_flight, proxy._in_flight)
                    fault = proxy.faults.pop(0) if proxy.faults else None
                try:
                    status, headers, payload = fault_response(fault) if fault else self._forward(body)
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                finally:
                    with proxy._lock:
                        proxy._in_flight -= 1

            def _forward(self, body: bytes | None) -> tuple[int, dict[str, str], bytes]:
                path = self.path.removeprefix("/v1")
                req = urllib.request.Request(proxy.upstream + path, data=body, method=self.command,
                                             headers={"Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(req, timeout=120) as resp:
                        return resp.status, {}, resp.read()
                except urllib.error.HTTPError as err:
                    return err.code, {}, err.read()

            def log_message(self, *args) -> None:  # keep pytest's output clean
                pass

        return Handler


def fault_response(fault: tuple[int, dict[str, str], dict]) -> tuple[int, dict[str, str], bytes]:
    status, headers, body = fault
    return status, headers, json.dumps(body).encode()


def _error(message: str) -> dict:
    return {"error": {"message": message, "type": "test_fault"}}


def _fast_retries(lm: OpenAICompletionsLM) -> OpenAICompletionsLM:
    lm.RETRY_BASE_DELAY = 0.01  # the backoff schedule is not under test here, the recovery is
    return lm


# ----------------------------------------------------------------------------------------------- helpers
def _sst2_zero_shot(count_tokens, n_queries: int) -> list[LLRequest]:
    """Zero-shot SST-2 requests for the ``n_queries`` shortest of the first 50 eval sentences.

    Short, because llama-cpp-python's server sorts the whole vocabulary in Python for every echoed token."""
    from iclkit.data.loaders import load_split
    from iclkit.data.tasks import load_task
    from iclkit.prompt.render import PromptBuilder

    task = load_task("sst2")
    builder = PromptBuilder(task.template, task.labels, task.verbalizer, count_tokens=count_tokens, max_tokens=2048)
    reqs = []
    queries = sorted(load_split(task, "eval")[:50], key=lambda q: len(str(q.fields)))[:n_queries]
    for q in queries:
        p = builder.build(q, [])
        reqs += [LLRequest(c, k, q.id) for c, k in zip(p.contexts, p.continuations)]
    return reqs


# ----------------------------------------------------------------------------------------------- against the server
@pytest.mark.integration
def test_launcher_server_answers_echo_with_prompt_logprobs(server):
    # The request that crashed llama_cpp.server on an AMX CPU (its first evaluation, with repacked weights).
    payload = {"model": MODEL, "prompt": "Review: a delight\nSentiment:", "echo": True, "logprobs": 1,
               "max_tokens": 1, "temperature": 0}
    req = urllib.request.Request(f"{server}/completions", data=json.dumps(payload).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        reply = json.load(resp)
    assert reply["model"] == MODEL  # the embedded name is the alias
    logprobs = reply["choices"][0]["logprobs"]["token_logprobs"]
    assert len(logprobs) >= 6 and all(lp <= 0 for lp in logprobs[1:] if lp is not None)


@pytest.mark.integration
def test_contract(lm):
    assert_lm_contract(lm)


@pytest.mark.integration
def test_agrees_with_the_hf_backend_on_sst2_prompts(lm, hf):
    reqs = _sst2_zero_shot(hf.count_tokens, n_queries=10)
    ours = lm.loglikelihood(reqs)
    theirs = hf.loglikelihood([LLRequest(BOS_TEXT + r.context, r.continuation, r.group) for r in reqs])
    assert [a.n_tokens for a in ours] == [b.n_tokens for b in theirs] == [1] * len(reqs)
    deltas = [abs(a.logprob - b.logprob) for a, b in zip(ours, theirs)]
    assert max(deltas) <= HF_AGREEMENT_MAX_ATOL, deltas
    assert sum(deltas) / len(deltas) <= HF_AGREEMENT_MEAN_ATOL, deltas
    for i in range(0, len(reqs), 2):  # two labels per query: the same prediction
        assert (ours[i].logprob > ours[i + 1].logprob) == (theirs[i].logprob > theirs[i + 1].logprob)


@pytest.mark.integration
def test_results_keep_input_order_with_bounded_concurrency(server):
    # Continuations of k repeated single-token words have k tokens, so n_tokens shows which result is which;
    # contexts of different lengths make the requests finish out of order.
    ks = list(range(1, 13))
    random.Random(0).shuffle(ks)
    reqs = [LLRequest("A film" + " indeed" * (k % 4) + ":", " the" * k) for k in ks]
    with FaultProxy(server) as proxy:
        lm = OpenAICompletionsLM(MODEL, base_url=proxy.url, concurrency=3, max_length=2048)
        results = lm.loglikelihood(reqs)
    assert [r.n_tokens for r in results] == ks
    assert 2 <= proxy.max_in_flight <= 3
    direct = OpenAICompletionsLM(MODEL, base_url=server, max_length=2048)
    for i in (0, 5, 11):
        alone = direct.loglikelihood([reqs[i]])[0]
        assert results[i].logprob == pytest.approx(alone.logprob, abs=1e-4)


@pytest.mark.integration
def test_generation_stops_at_newline(lm):
    context = "Sentence: the plot is good\nLabel: Positive\n\nSentence: the acting is bad\nLabel:"
    [text] = lm.generate([GenRequest(context, stop=("\n",), max_new_tokens=16)])
    assert text.strip() and "\n" not in text


@pytest.mark.integration
def test_count_tokens_through_the_server_or_a_local_tokenizer(lm, hf, server):
    text = "Sentence: the plot is good\nLabel:"
    assert lm.count_tokens(text) == hf.count_tokens(text) + 1  # the server adds <|im_start|>
    assert text in lm._token_counts  # cached: the prompt builder asks about the same texts again and again
    local = OpenAICompletionsLM.load(MODEL, base_url=server, tokenizer=MODEL)
    assert local.count_tokens(text) == hf.count_tokens(text)


@pytest.mark.integration
def test_empty_context_is_a_clear_error(lm):
    with pytest.raises(IclkitError, match="context is empty"):
        lm.loglikelihood([LLRequest("", " Positive")])


@pytest.mark.integration
def test_server_without_prompt_logprobs_is_a_clear_error(tmp_path):
    with _llama_server(tmp_path, logits_all=False) as base_url:
        lm = OpenAICompletionsLM(MODEL, base_url=base_url, max_length=2048)
        with pytest.raises(IclkitError, match=r"cannot return prompt log-probabilities.*--logits_all True"):
            lm.loglikelihood([LLRequest("Review: good\nSentiment:", " Positive")])
        assert lm.generate([GenRequest("Review: good\nSentiment:", max_new_tokens=2)])  # generation still works


@pytest.mark.integration
def test_recovers_from_429_and_503_with_the_same_result(server, lm):
    req = LLRequest("Review: a delight\nSentiment:", " Positive")
    direct = lm.loglikelihood([req])[0]
    with FaultProxy(server) as proxy:
        proxy.faults = [(429, {"Retry-After": "0"}, _error("slow down")), (503, {}, _error("overloaded")),
                        (503, {}, _error("overloaded"))]
        flaky = _fast_retries(OpenAICompletionsLM(MODEL, base_url=proxy.url, max_length=2048))
        assert flaky.loglikelihood([req])[0].logprob == pytest.approx(direct.logprob, abs=1e-4)
        assert proxy.requests == 4


@pytest.mark.integration
def test_gives_up_after_the_last_retry_naming_url_and_status(server):
    with FaultProxy(server) as proxy:
        proxy.faults = [(503, {}, _error("still overloaded"))] * 3
        flaky = _fast_retries(OpenAICompletionsLM(MODEL, base_url=proxy.url, max_length=2048, max_retries=2))
        with pytest.raises(IclkitError, match=r"127\.0\.0\.1:\d+/v1/completions: HTTP 503 after 3 attempts: still"):
            flaky.loglikelihood([LLRequest("Review: fine\nSentiment:", " Positive")])
        assert proxy.requests == 3


@pytest.mark.integration
def test_client_errors_fail_at_once_with_the_servers_message(server):
    with FaultProxy(server) as proxy:
        lm = _fast_retries(OpenAICompletionsLM(MODEL, base_url=proxy.url, max_length=2048))
        proxy.faults = [(400, {}, _error("invalid model name"))]
        with pytest.raises(IclkitError, match="HTTP 400: invalid model name"):
            lm.loglikelihood([LLRequest("Review: fine\nSentiment:", " Positive")])
        assert proxy.requests == 1
        # and a real 400 from llama.cpp's server: a prompt longer than its context
        with pytest.raises(IclkitError, match="HTTP 400: This model's maximum context length is 2048"):
            lm.loglikelihood([LLRequest("the film " * 1500, " Positive")])
        assert proxy.requests == 2


# ----------------------------------------------------------------------------------------------- whose fault
# An outage is the server's or the network's (BackendError, exit 3); a refused request is the user's (exit 2).
# No model needed: the fault proxy answers every request itself, or nothing listens at all.
NO_UPSTREAM = "http://127.0.0.1:9/v1"


def _score_once(lm: OpenAICompletionsLM) -> None:
    lm.loglikelihood([LLRequest("Review: fine\nSentiment:", " Positive")])


def test_unreachable_server_is_a_backend_error():
    lm = _fast_retries(OpenAICompletionsLM(MODEL, base_url=f"http://127.0.0.1:{_free_port()}/v1", max_length=2048,
                                           max_retries=1))
    with pytest.raises(BackendError, match=r"no answer after 2 attempts \(ConnectError") as info:
        _score_once(lm)
    assert info.value.exit_code == 3


def test_timeout_is_a_backend_error():
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        lm = OpenAICompletionsLM(MODEL, base_url=f"http://127.0.0.1:{silent.getsockname()[1]}/v1", max_length=2048,
                                 max_retries=0, timeout=0.2)
        with pytest.raises(BackendError, match="no answer after 1 attempts .*Timeout"):
            _score_once(lm)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_server_errors_after_the_last_retry_are_backend_errors(status):
    with FaultProxy(NO_UPSTREAM) as proxy:
        proxy.faults = [(status, {"Retry-After": "0"}, _error("overloaded"))] * 2
        lm = _fast_retries(OpenAICompletionsLM(MODEL, base_url=proxy.url, max_length=2048, max_retries=1))
        with pytest.raises(BackendError, match=f"HTTP {status} after 2 attempts: overloaded") as info:
            _score_once(lm)
    assert info.value.exit_code == 3 and proxy.requests == 2


def test_a_malformed_reply_is_a_backend_error():
    with FaultProxy(NO_UPSTREAM) as proxy:
        proxy.faults = [(200, {}, ["not", "an", "object"])]
        lm = OpenAICompletionsLM(MODEL, base_url=proxy.url, max_length=2048)
        with pytest.raises(BackendError, match="expected a JSON object"):
            _score_once(lm)


def test_a_refused_request_stays_a_user_error():
    with FaultProxy(NO_UPSTREAM) as proxy:
        proxy.faults = [(400, {}, _error("invalid model name"))]
        lm = OpenAICompletionsLM(MODEL, base_url=proxy.url, max_length=2048)
        with pytest.raises(IclkitError, match="HTTP 400: invalid model name") as info:
            _score_once(lm)
    assert not isinstance(info.value, BackendError) and info.value.exit_code == 2


def test_cli_exits_3_with_one_line_when_the_server_is_down(capsys, tmp_path):
    from iclkit.cli.main import main

    url = f"http://127.0.0.1:{_free_port()}/v1"
    code = main(["eval", "--task", "sst2", "--backend", "openai", "--model", MODEL, "--limit", "2",
                 "--out", str(tmp_path / "run"), "--set", f"backend_options.base_url={url}",
                 "backend_options.max_retries=0"])
    err = capsys.readouterr().err.strip()
    assert code == 3
    assert len(err.splitlines()) == 1 and url in err and "no answer" in err


# ----------------------------------------------------------------------------------------------- reply parsing
def _choice(tokens, offsets, logprobs, text, tops=None):
    tops = tops or [None if lp is None else {t: lp} for t, lp in zip(tokens, logprobs)]
    return {"text": text, "logprobs": {"tokens": tokens, "text_offset": offsets, "token_logprobs": logprobs,
                                       "top_logprobs": tops}}


def test_vllm_shaped_reply_with_echoed_bos_and_eos():
    # vLLM counts the BOS's text in text_offset and echoes a generated "</s>" that is not in the text.
    prompt = PromptText("Label:", " Positive")
    choice = _choice(["<s>", "Label", ":", " Pos", "itive", "</s>"], [0, 3, 8, 9, 13, 18],
                     [None, -5.0, -1.0, -2.0, -0.5, -0.1], "Label: Positive")
    res = result_from_choice(choice, prompt, where="test")
    assert (res.logprob, res.n_tokens, res.is_greedy) == (-2.5, 2, True)


def test_generated_token_is_dropped_and_straddling_token_counts_as_continuation():
    prompt = PromptText("foo", "bar baz")  # the server merged "o" + "bar" into one token
    choice = _choice(["fo", "obar", " baz", "\n"], [0, 2, 6, 10], [None, -1.0, -2.0, -0.3], "foobar baz\n",
                     tops=[None, {"obar": -1.0}, {" qux": -0.5, " baz": -2.0}, {"\n": -0.3}])
    res = result_from_choice(choice, prompt, where="test")
    assert (res.logprob, res.n_tokens, res.is_greedy) == (-3.0, 2, False)


def test_continuation_start_boundary_rule():
    assert continuation_start([0, 3, 5, 9], end_offset=12, n_chars=7) == 2  # token starting at the boundary
    assert continuation_start([0, 3, 6, 9], end_offset=12, n_chars=7) == 1  # token straddling it


def test_missing_prompt_logprobs_are_a_clear_error():
    choice = {"text": "Label: Positive", "logprobs": {"tokens": [" Positive"], "text_offset": [6],
                                                      "token_logprobs": [-1.0], "top_logprobs": None}}
    with pytest.raises(IclkitError, match="no prompt log-probabilities"):
        result_from_choice({"text": "Label: Positive", "logprobs": None}, PromptText("Label:", " Positive"), where="x")
    with pytest.raises(IclkitError, match="did not echo the prompt"):
        result_from_choice(dict(choice, text=" Positive"), PromptText("Label:", " Positive"), where="x")


def test_retry_after_header_forms():
    assert retry_after_seconds("2") == 2.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: retry now


@pytest.mark.integration
def test_chat_backend_generates_and_refuses_scoring(server):
    """``openai-chat`` on the same server's /v1/chat/completions (the server applies SmolLM2's chat template)."""
    from iclkit.errors import IclkitError
    from iclkit.lm.backends import load_backend

    chat = load_backend("openai-chat", MODEL, options={"base_url": server, "concurrency": 2})
    try:
        # (llama-cpp-python's chat endpoint did not repeat itself exactly even at temperature 0, so no equality)
        answers = chat.generate([GenRequest("What is 2 + 2? Answer with a number.", ("\n",), 12),
                                 GenRequest("Name a colour.", (), 8, temperature=1.0, seed=1)])
        assert all(a.strip() for a in answers) and "\n" not in answers[0]
        with pytest.raises(IclkitError, match="no prompt log-probabilities"):
            chat.loglikelihood([LLRequest("a", " b")])
    finally:
        chat.close()
