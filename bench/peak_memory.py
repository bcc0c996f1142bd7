"""Run a command and report the peak resident memory of its largest process (and its wall time).

    python bench/peak_memory.py --json bench/results/x.json -- sh results/analysis/run_six_tasks.sh gemma3-270m 32 sst2

The figure is ``getrusage(RUSAGE_CHILDREN).ru_maxrss``: the maximum RSS of any waited-for descendant, so a shell
script that runs several Python steps reports its largest step.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", help="write the result here")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ARGS...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    started = time.perf_counter()
    rc = subprocess.call(command)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {"command": " ".join(command), "returncode": rc, "max_rss_gb": round(usage.ru_maxrss / 2**20, 2),
              "wall_s": round(time.perf_counter() - started, 1)}
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return rc


if __name__ == "__main__":
    sys.exit(main())
