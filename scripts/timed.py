"""Run a command and record its wall time, CPU time and the machine's load in a small JSON file.

The docs quote wall times (the main job's "about N minutes"); this file is what backs them. The load average is
recorded because the development machine is shared: a wall time measured under load is an upper bound.

    python scripts/timed.py results/sst2-main/wall-time.json -- iclkit run configs/main.yaml
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python scripts/timed.py OUT.json -- COMMAND...", file=sys.stderr)
        return 2
    out, command = Path(argv[0]), argv[2:]
    started_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    load_before = load_average()
    start = time.perf_counter()
    code = subprocess.call(command)
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    record = {
        "command": " ".join(command),
        "exit_code": code,
        "started_at": started_at,
        "wall_seconds": round(seconds, 1),
        "cpu_user_seconds": round(usage.ru_utime, 1),
        "cpu_system_seconds": round(usage.ru_stime, 1),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "cpu_count": os.cpu_count(),
        "iclkit_cache": os.environ.get("ICLKIT_CACHE"),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"{out}: {seconds:.1f} s wall, exit {code}", file=sys.stderr)
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
