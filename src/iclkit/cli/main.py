"""``iclkit`` command line: a thin shell over the library. Each verb lives in its own module.

User errors (bad config, data, names) print one line and exit with code 2, never a traceback; back-end and
environment failures exit 3; anything else is a bug, reported in one line with its traceback saved to a log file.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from iclkit.errors import IclkitError

EPILOG = """examples:
  iclkit eval --task sst2 --model smollm2-135m --shots 8 --retriever topk --limit 200 --out runs/x
  iclkit run configs/main.yaml shots=4 limit=100
  iclkit report runs/sst2-main -o runs/sst2-main/report.html
  iclkit tune --task sst2 --model smollm2-135m --budget 12 --dev-size 100
  iclkit compare --tasks sst2,mr --methods random,topk,dpp --seeds 0,1,2 --limit 100
  iclkit analyze icl-vs-ft --task sst2 --model smollm2-135m --limit 200
  iclkit tasks        iclkit models
  iclkit warmup --method metaicl --model smollm2-135m --tasks trec,rte,sst5,cb --out ckpt/metaicl
"""


def build_parser() -> argparse.ArgumentParser:
    from iclkit.cli import analyze, ape, compare, evaluate, listing, report, tune, warmup

    parser = argparse.ArgumentParser(prog="iclkit", description="In-context learning evaluation.",
                                     epilog=EPILOG + "\n" + EXIT_CODES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show full tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", required=True)
    evaluate.register(sub)
    listing.register(sub)
    report.register(sub)
    warmup.register(sub)
    tune.register(sub)
    compare.register(sub)
    ape.register(sub)
    analyze.register(sub)
    return parser


EXIT_CODES = """exit codes:
  0  success
  1  a bug in iclkit: one line here, the traceback in the log file it names (or on screen with --debug)
  2  bad input: a config, data file, task, name, option or path (the message names it)
  3  the back-end or environment failed: a server outage, a native library crash, out of memory or disk
  130 interrupted (finished examples are saved; re-running resumes)
"""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except IclkitError as exc:
        print(f"iclkit: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("iclkit: interrupted; finished examples are saved and a re-run resumes", file=sys.stderr)
        return 130
    except (OSError, MemoryError) as exc:  # the disk, the network or the memory, not the user's input
        if args.debug:
            raise
        what = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"iclkit: error: {what}{_describe(exc)} (environment failure; details in {_log_traceback()})",
              file=sys.stderr)
        return 3
    except Exception as exc:
        if args.debug:
            raise
        print(f"iclkit: internal error: {_describe(exc)}. This is a bug in iclkit; the traceback is in "
              f"{_log_traceback()} (or re-run with --debug)", file=sys.stderr)
        return 1


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _log_traceback() -> str:
    """Write the current exception's traceback to a new file under the cache and return its path."""
    import tempfile
    import time
    import traceback

    from iclkit.paths import cache_dir

    text = "".join(traceback.format_exc())
    try:
        folder = cache_dir() / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        path.write_text(" ".join(sys.argv) + "\n\n" + text, encoding="utf-8")
    except OSError:  # the cache itself may be the problem (a full disk): fall back to the temp folder
        fd, name = tempfile.mkstemp(prefix="iclkit-error-", suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        path = Path(name)
    return str(path)


if __name__ == "__main__":
    sys.exit(main())
