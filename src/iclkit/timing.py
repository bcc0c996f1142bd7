"""Wall-clock time per pipeline stage (load, index, prompt, score, write), recorded in ``summary.json``.

Per-query retrieval can make a run several times slower than fixed demonstrations; the stage times say where the
time went without a profiler.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

STAGES = ("load", "index", "prompt", "score", "write")


class StageTimer:
    """Accumulates ``time.perf_counter`` seconds per stage; a stage may be entered many times (once per chunk)."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(STAGES, 0.0)

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def to_dict(self) -> dict[str, float]:
        """Seconds per stage rounded *down* to the millisecond, so the stages never sum to more than the total."""
        return {name: math.floor(s * 1000) / 1000 for name, s in self.seconds.items()}
