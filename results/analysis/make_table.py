"""Print the markdown tables of docs/analysis.md from the committed results/analysis/*/analysis.json files.

    python results/analysis/make_table.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
MEASURES = [("Rec2FTP %", None), ("SimAOU (ΔFT)", "simaou"), ("SimAOU (random U[0,1))", "simaou_random_uniform"),
            ("SimAOU (random N(0,1))", "simaou_random_gaussian"), ("SimAM before FT (ZSL)", "simam_before_ft"),
            ("SimAM after FT", "simam_after_ft"), ("SimAM FT-diff", "simam_ft_diff"), ("Kendall (ICL, FT)", "kendall"),
            ("Kendall (ICL, random)", "kendall_random")]


def cell(c: dict | None, scale: float = 1.0, digits: int = 3) -> str:
    if not c or c.get("mean") is None:
        return "–"
    text = f"{c['mean'] * scale:.{digits}f}"
    if c.get("low") is not None:
        text += f" [{c['low'] * scale:.{digits}f}, {c['high'] * scale:.{digits}f}]"
    return text


def columns(analysis: dict) -> dict[str, dict]:
    return {"model": analysis["summary"]["main"], **analysis["summary"]["controls"]}


def rec2ftp_counts(analysis: dict, column: str) -> str:
    results = [s["main"] if column == "model" else s["controls"][column] for s in analysis["seeds"]]
    both = sum(r["rec2ftp"]["n_both"] for r in results)
    return f"{both} / {sum(r['rec2ftp']['n_ft_over_zsl'] for r in results)}"


def table(analysis: dict) -> str:
    cols = columns(analysis)
    lines = ["| | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for setting in ("zsl", "icl", "ft"):
        lines.append(f"| {setting.upper()} accuracy % | "
                     + " | ".join(cell(a["accuracy"][setting], 100, 1) for a in cols.values()) + " |")
    counts = [rec2ftp_counts(analysis, c) for c in cols]
    lines.append("| Rec2FTP counts: ICL also right / FT fixes a ZSL error (all seeds) | " + " | ".join(counts) + " |")
    for name, key in MEASURES:
        values = [cell(a["rec2ftp"], 1, 1) if key is None else cell(a["measures"].get(key)) for a in cols.values()]
        lines.append(f"| {name} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def main() -> int:
    for path in sorted(HERE.glob("*/analysis.json")):
        analysis = json.loads(path.read_text())
        cfg = analysis["config"]
        seeds = [s["seed"] for s in analysis["seeds"]]
        used = sorted({s["demos"]["used"] for s in analysis["seeds"]})
        lrs = sorted({s["lr"] for s in analysis["seeds"]})
        print(f"### {path.parent.name}\n\n{cfg['task']}, {cfg['model']}, seeds {seeds}, "
              f"n = {analysis['seeds'][0]['main']['accuracy']['zsl']['n']}, demonstrations used {used}, "
              f"FT lr {lrs}, record position {cfg['record_pos']}\n")
        print(table(analysis) + "\n")
        dual = analysis.get("dual_form") or []
        if dual:
            worst = max(d["identity_rel_error"] for d in dual)
            cos = [round(d["softmax_cosine"], 2) for d in dual]
            print(f"Dual form: identity max rel. error {worst:.1e}; cos(softmax, linear) per layer {cos}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
