"""From-scratch language models with and without momentum attention (Dai et al. 2023, §5, Table 6), CPU-sized.

One run = one small Llama-architecture model trained from random weights on WikiText-2 ``validation.txt`` (the
train split is not shipped) and measured on ``test.txt``: byte-level (vocabulary of 256 bytes, so the embedding and
the LM head stay small), perplexity per byte at several context lengths. ``--eta 0`` is the plain Transformer;
``--eta E`` adds momentum attention with decay E to every layer (:func:`iclkit.train.momentum.add_momentum`);
``--normalise`` scales its term by 1 - E (a moving average whose weights sum to at most E, instead of the paper's
unnormalised sum, up to E / (1 - E)).

The seed fixes the initial weights *and* the data order, and momentum adds no parameters: runs with the same seed
and different ``--eta`` start from the same weights and see the same batches (a paired comparison).

Optimiser as in the paper's Table 10, scaled down: Adam(0.9, 0.98, eps 1e-6), linear warm-up then linear
(polynomial power 1) decay to 0, gradient clip 2.0.

    OMP_NUM_THREADS=1 python scratch_lm.py --eta 0.9 --seed 0 --steps 400 --json out.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import time
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from iclkit.train.momentum import add_momentum

WIKITEXT2 = Path(__file__).resolve().parents[3] / "src" / "iclkit" / "data" / "builtin" / "wikitext2"


def read_bytes(name: str) -> torch.Tensor:
    with gzip.open(WIKITEXT2 / f"{name}.txt.gz", "rb") as fh:
        return torch.frombuffer(bytearray(fh.read()), dtype=torch.uint8).long()


def build_model(args: argparse.Namespace) -> LlamaForCausalLM:
    config = LlamaConfig(vocab_size=256, hidden_size=args.d_model, intermediate_size=4 * args.d_model,
                         num_hidden_layers=args.layers, num_attention_heads=args.heads,
                         num_key_value_heads=args.heads, max_position_embeddings=1024, tie_word_embeddings=True,
                         bos_token_id=None, eos_token_id=None, pad_token_id=None, attn_implementation="sdpa")
    model = LlamaForCausalLM(config)
    if args.eta > 0:
        add_momentum(model, args.eta, scale=1 - args.eta if args.normalise else 1.0)
    return model


def lr_at(step: int, args: argparse.Namespace) -> float:
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    return args.lr * max(0.0, (args.steps - step) / max(1, args.steps - args.warmup))


@torch.no_grad()
def summed_position_nll(model, rows: torch.Tensor, batch: int = 32) -> torch.Tensor:
    """NLL (nats) at each position of ``rows [n, T + 1]`` (inputs ``rows[:, :-1]``, targets ``rows[:, 1:]``),
    summed over the rows: shape ``[T]``."""
    total = torch.zeros(rows.shape[1] - 1)
    for i in range(0, len(rows), batch):
        chunk = rows[i : i + batch]
        logits = model(input_ids=chunk[:, :-1]).logits
        total += torch.nn.functional.cross_entropy(logits.transpose(1, 2), chunk[:, 1:], reduction="none").sum(0)
    return total


def position_nll(model, data: torch.Tensor, length: int, n_bytes: int) -> torch.Tensor:
    """Mean NLL (nats) at each position of independent windows of ``length`` over the first ``n_bytes`` of
    ``data`` (every window is scored from its own start, as in the paper's "valid 256/512/1024")."""
    usable = (min(n_bytes, len(data) - 1) // length) * length
    rows = data[: usable + 1].unfold(0, length + 1, length)  # each window plus the byte that follows it
    return summed_position_nll(model, rows) / len(rows)


def perplexity(per_position: torch.Tensor) -> float:
    """exp(mean NLL per byte) from :func:`position_nll` (every position has the same number of windows)."""
    return math.exp(per_position.mean().item())


def in_context_scores(model, data: torch.Tensor, n_bytes: int, per_position_256: torch.Tensor) -> dict:
    """Two measures of in-context learning that need no task (the paper's Table 7 asks for task accuracy, which
    models this small cannot reach):

    * ``icl_score`` (Olsson et al. 2022): mean NLL at positions 192-255 of 256-byte test windows
      (``per_position_256``, from :func:`position_nll`) minus the mean at positions 32-63. Negative: later bytes are
      predicted better because of the context.
    * ``repeat_gain``: 128-byte test windows shown twice in a row; mean NLL on the second copy minus the first.
      Strongly negative when the model copies from its context (induction heads).
    """
    usable = (min(n_bytes, len(data)) // 128) * 128
    halves = data[:usable].view(-1, 128)
    doubled = torch.cat([halves, halves], dim=1)
    nll = summed_position_nll(model, doubled) / len(doubled)
    # position p predicts byte p + 1: the first copy's bytes 1-127 are positions 0-126, the second copy's 128-255
    return {"icl_score": (per_position_256[192:].mean() - per_position_256[32:64].mean()).item(),
            "repeat_gain": (nll[127:].mean() - nll[:127].mean()).item()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--eta", type=float, default=0.0, help="momentum decay; 0 = plain attention")
    p.add_argument("--normalise", action="store_true", help="scale the momentum term by 1 - eta")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--batch", type=int, default=16, help="sequences per step")
    p.add_argument("--seq", type=int, default=256, help="training context length (bytes)")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--eval-lengths", default="64,128,256")
    p.add_argument("--eval-bytes", type=int, default=131072, help="bytes of test.txt (and validation.txt) scored")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", required=True)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train, test = read_bytes("validation"), read_bytes("test")
    model = build_model(args)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.01)
    data_rng = torch.Generator().manual_seed(args.seed)
    losses, started = [], time.perf_counter()
    model.train()
    for step in range(args.steps):
        starts = torch.randint(0, len(train) - args.seq - 1, (args.batch,), generator=data_rng)
        rows = torch.stack([train[s : s + args.seq + 1] for s in starts.tolist()])
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args)
        logits = model(input_ids=rows[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), rows[:, 1:].flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 2.0)
        opt.step()
        losses.append(round(loss.item(), 5))
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step} loss {loss.item():.4f} ({time.perf_counter() - started:.0f}s)", flush=True)
    train_seconds = time.perf_counter() - started
    model.eval()
    lengths = [int(x) for x in args.eval_lengths.split(",")]
    # one pass per context length serves both the perplexities and the ICL score (which needs 256)
    test_nll = {n: position_nll(model, test, n, args.eval_bytes) for n in sorted({*lengths, 256})}
    result = {
        "eta": args.eta, "normalised": args.normalise, "seed": args.seed, "config": vars(args),
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_seconds": round(train_seconds, 1), "tokens_trained": args.steps * args.batch * args.seq,
        "losses": losses,
        "train_ppl": {str(args.seq): perplexity(position_nll(model, train, args.seq, args.eval_bytes))},
        "test_ppl": {str(n): perplexity(test_nll[n]) for n in lengths},
        "in_context": in_context_scores(model, test, args.eval_bytes, test_nll[256]),
        "eval_seconds": round(time.perf_counter() - started - train_seconds, 1),
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k not in ("losses", "config")}))


if __name__ == "__main__":
    main()
