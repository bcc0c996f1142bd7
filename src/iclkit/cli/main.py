"""``iclkit`` command line: a thin shell over the library. Each verb lives in its own module.

User errors (bad config, data, names) print one line and exit with code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from iclkit.errors import IclkitError

EPILOG = """examples:
  iclkit eval --task sst2 --model smollm2-135m --shots 8 --retriever topk --limit 200 --out runs/x
  iclkit run configs/main.yaml shots=4 limit=100
  iclkit analyze icl-vs-ft --task sst2 --model smollm2-135m --limit 200
  iclkit tasks        iclkit models
"""


def build_parser() -> argparse.ArgumentParser:
    from iclkit.cli import analyze, evaluate, listing

    parser = argparse.ArgumentParser(prog="iclkit", description="In-context learning evaluation.", epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    evaluate.register(sub)
    listing.register(sub)
    analyze.register(sub)
    return parser


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


if __name__ == "__main__":
    sys.exit(main())
