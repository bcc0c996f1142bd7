"""``iclkit report RUN_DIR... [-o report.html]``: one offline HTML page over runs and experiment folders."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write an offline HTML report of runs or experiment folders")
    p.add_argument("paths", nargs="+", metavar="RUN_DIR",
                   help="run directories or experiment folders (every summary.json below is a run)")
    p.add_argument("-o", "--out", help="HTML file to write (default: RUN_DIR/report.html for one path, "
                                       "./report.html for several); figures go to <name>_files/ beside it")
    p.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from iclkit.evaluate.html_report import write_report

    out = Path(args.out) if args.out else default_output(args.paths)
    path = write_report(args.paths, out)
    print(f"report written to {path}")
    return 0


def default_output(paths: list[str]) -> Path:
    if len(paths) == 1 and Path(paths[0]).is_dir():
        return Path(paths[0]) / "report.html"
    return Path("report.html")
