"""Copy the summaries of finished runs from ``runs/`` (git-ignored) into ``results/`` (committed).

``runs/`` holds the bulky per-example ``predictions.jsonl``; the docs quote only what ``summary.json`` holds
(metrics raw / contextually / batch calibrated, predicted-label distribution, demonstrations used, timing, resolved
config, environment, model file hash) and the experiment table ``results.json``. Those small files are mirrored here,
so every number in docs/results.md can be traced to a committed file and regenerated with
``python scripts/results_table.py``.

    python scripts/collect_results.py                       # the default mappings below, whatever exists
    python scripts/collect_results.py runs/x results/x      # one source folder into one destination
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# runs/ folder (as written by the commands in docs/results.md) -> committed results/ folder
DEFAULT_MAPPINGS = {
    "runs/sst2-main": "results/sst2-main",
    "runs/results": "results/paper-tasks",
    "runs/lm-eval-compare": "results/lm-eval-compare",
}
SUMMARY_KEYS = ("name", "task", "model", "n", "metrics", "metrics_calibrated", "metrics_batch_calibrated", "demos",
                "timing", "config", "environment", "model_file")
TABLES = ("results.json",)


def trimmed_summary(path: Path) -> dict:
    """The summary without anything not listed in SUMMARY_KEYS (future bulky fields stay out of git)."""
    summary = json.loads(path.read_text(encoding="utf-8"))
    return {key: summary[key] for key in SUMMARY_KEYS if key in summary}


def collect(source: Path, destination: Path) -> list[Path]:
    """Mirror every ``summary.json`` and experiment table under ``source`` into ``destination``."""
    written = []
    for path in sorted(source.rglob("*.json")):
        if path.name == "summary.json":
            content = trimmed_summary(path)
        elif path.name in TABLES:
            content = json.loads(path.read_text(encoding="utf-8"))
        else:
            continue
        target = destination / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(target)
    return written


def main(argv: list[str]) -> int:
    if len(argv) not in (0, 2):
        print(__doc__, file=sys.stderr)
        return 2
    mappings = {argv[0]: argv[1]} if argv else DEFAULT_MAPPINGS
    for source, destination in mappings.items():
        if Path(source).is_dir():
            written = collect(Path(source), Path(destination))
            print(f"{source} -> {destination}: {len(written)} file(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
