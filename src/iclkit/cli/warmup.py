"""``iclkit warmup``: train a model to be a better in-context learner (MetaICL, in-context tuning, instruction
tuning, self-supervised ICL, symbol tuning) and save a folder that ``iclkit eval --model <out>/model`` loads.

Runs unchanged under ``accelerate launch`` (several processes or GPUs); re-running the same command resumes from
the newest checkpoint in ``--out``.
"""

from __future__ import annotations

import argparse

from iclkit.train.run import DEFAULT_EVAL_TASKS, DEFAULT_TRAIN_TASKS, METHODS

EPILOG = """examples:
  iclkit warmup --method metaicl --model smollm2-135m --tasks trec,rte,sst5,cb --steps 200 --out ckpt/metaicl
  iclkit warmup --method metaicl --shots 0 --out ckpt/control          # same data, no demonstrations
  iclkit warmup --method icl-tuning --label-loss restricted --templates 3 --out ckpt/ict   # Chen et al.'s loss
  iclkit warmup --method selfsup --corpus my_text.txt --out ckpt/selfsup
  accelerate launch --multi_gpu --num_processes 4 -m iclkit.cli.main warmup --method symbol --full --out ckpt/symbol
  iclkit eval --task sst2 --model ckpt/metaicl/model --shots 4
"""


def _names(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("warmup", help="train for in-context learning (warmup methods)", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", required=True, choices=METHODS)
    p.add_argument("--model", default="smollm2-135m", help="embedded model name, HF model id or local path")
    p.add_argument("--tasks", type=_names, default=DEFAULT_TRAIN_TASKS, help="comma-separated training tasks")
    p.add_argument("--eval-tasks", type=_names, default=DEFAULT_EVAL_TASKS,
                   help="held-out evaluation tasks; overlap with the training data is refused")
    p.add_argument("--allow-overlap", action="store_true", help="train despite a train/eval overlap (warns)")
    p.add_argument("--shots", type=int, default=4, help="demonstrations per training prompt (0 = control)")
    p.add_argument("--examples-per-task", type=int, default=500, help="query examples sampled per task")
    p.add_argument("--channel", action="store_true", help="metaicl/icl-tuning: channel variant")
    p.add_argument("--label-loss", choices=("lm", "restricted"), default="lm",
                   help="icl-tuning: 'restricted' = softmax over the verbalizer tokens only (Chen et al.); "
                        "'lm' = LM loss on the label tokens")
    p.add_argument("--templates", type=int, default=1,
                   help="icl-tuning: templates per task, one drawn per query (the task's own + generic ones)")
    p.add_argument("--instruct-share", type=float, default=0.0,
                   help="symbol: share of prompts replaced by instruction-tuning prompts (Wei et al. mix them in)")
    p.add_argument("--corpus", help="selfsup: raw text file (.txt/.txt.gz); default: shipped WikiText-2 validation")
    p.add_argument("--out", required=True, help="output folder: checkpoints/, metrics.jsonl, model/")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=8, help="global batch: examples per optimizer step")
    p.add_argument("--micro-batch-size", type=int, default=1, help="examples per forward, per process")
    p.add_argument("--lr", type=float, help="learning rate (default 1e-4 LoRA, 1e-5 full)")
    p.add_argument("--warmup-steps", type=int, default=0)
    p.add_argument("--max-length", type=int, default=512, help="tokens per sequence (left-truncated)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--full", action="store_true", help="full fine-tuning instead of LoRA")
    p.add_argument("--lora-rank", type=int, default=8)
    p.add_argument("--lora-targets", type=_names, default=("q_proj", "k_proj", "v_proj", "o_proj"))
    p.add_argument("--save-every", type=int, default=50, help="checkpoint every N steps")
    p.add_argument("--report-to", type=_names, default=(), help="tensorboard and/or wandb (when installed)")
    p.add_argument("--no-resume", action="store_true", help="delete --out's checkpoints and start over")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(handler=cmd_warmup)


def cmd_warmup(args: argparse.Namespace) -> int:
    from iclkit.errors import IclkitError
    from iclkit.lm.models import check_model_name
    from iclkit.train.run import WarmupConfig, run_warmup
    from iclkit.train.trainer import TrainConfig

    check_model_name(args.model)
    for flag in ("steps", "batch_size", "micro_batch_size", "max_length", "save_every", "examples_per_task"):
        if getattr(args, flag) < 1:
            raise IclkitError(f"--{flag.replace('_', '-')} must be at least 1")
    train = TrainConfig(out=args.out, steps=args.steps, batch_size=args.batch_size,
                        micro_batch_size=args.micro_batch_size, lr=args.lr or (1e-5 if args.full else 1e-4),
                        warmup_steps=args.warmup_steps, max_length=args.max_length, seed=args.seed,
                        lora=not args.full, lora_rank=args.lora_rank, lora_alpha=2 * args.lora_rank,
                        lora_targets=args.lora_targets, save_every=args.save_every, report_to=args.report_to,
                        progress=not args.no_progress, resume=not args.no_resume)
    config = WarmupConfig(method=args.method, model=args.model, train=train, tasks=args.tasks,
                          eval_tasks=args.eval_tasks, allow_overlap=args.allow_overlap, shots=args.shots,
                          per_task=args.examples_per_task, channel=args.channel, corpus=args.corpus,
                          label_loss=args.label_loss, templates=args.templates,
                          instruct_share=args.instruct_share)
    result = run_warmup(config)
    if result.model_dir is not None:
        print(f"final loss {result.final_loss:.4f} after {result.steps} steps; model: {result.model_dir} "
              f"(iclkit eval --model {result.model_dir}); metrics: {result.metrics_path}")
    return 0
