"""Regenerate ``src/iclkit/data/builtin/<task>/<split>.jsonl.gz`` from the offline benchmark copies.

Usage (from the repository root)::

    python scripts/pack_data.py [--src ../shared/data] [--dst src/iclkit/data/builtin]

The output is byte-for-byte reproducible: rows and fields keep their source order, JSON is written compactly, and
the gzip header carries no file name and mtime 0. Only the fields a task uses are kept (AG News
drops ``title``/``description``, which ``text`` already concatenates; TREC keeps ``fine_label``).
WikiText-2's raw text files are gzipped unchanged. ``builtin/README.md`` (sources, splits, licences) is maintained by hand.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("sst2", "sst5", "mr", "subj", "agnews", "cb", "rte", "trec")
# Fields kept per task (in this order); tasks not listed keep every field as found.
KEEP = {"agnews": ("text", "label"), "trec": ("text", "label", "fine_label")}


def pack_split(src: Path, dst: Path, keep: tuple[str, ...] | None) -> int:
    """Write ``src`` (JSON lines) to ``dst`` (gzip level 9) keeping only ``keep``; returns the row count."""
    lines = []
    for lineno, line in enumerate(src.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if keep is not None:
            missing = [k for k in keep if k not in row]
            if missing:
                raise SystemExit(f"{src} line {lineno}: missing {missing}")
            row = {k: row[k] for k in keep}
        lines.append(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
    payload = ("\n".join(lines) + "\n").encode("utf-8")
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(dst, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
        gz.write(payload)
    return len(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--dst", type=Path, default=ROOT / "src" / "iclkit" / "data" / "builtin")
    args = parser.parse_args()
    for task in TASKS:
        for src in sorted((args.src / task).glob("*.jsonl")):
            dst = args.dst / task / (src.stem + ".jsonl.gz")
            n = pack_split(src, dst, KEEP.get(task))
            print(f"{task}/{dst.name}: {n} rows, {src.stat().st_size:,} -> {dst.stat().st_size:,} bytes")
    for src in sorted((args.src / "wikitext2").glob("*.txt")):  # raw text for self-supervised warmup (iclkit.train)
        dst = args.dst / "wikitext2" / (src.name + ".gz")
        with open(dst, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
            gz.write(src.read_bytes())
        print(f"wikitext2/{dst.name}: {src.stat().st_size:,} -> {dst.stat().st_size:,} bytes")
    print(f"total: {sum(p.stat().st_size for p in args.dst.rglob('*.jsonl.gz')):,} bytes")


if __name__ == "__main__":
    main()
