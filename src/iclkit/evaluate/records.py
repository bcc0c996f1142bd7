"""Run directories: resumable ``predictions.jsonl``, a config guard, ``summary.json`` and provenance.

A run on a CPU can take hours, so every prediction is appended (and flushed) as soon as it is computed and a
re-run skips what is already there. Resuming is only sound with the same configuration, hence ``RunDir``'s check.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import warnings
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any

from iclkit.errors import IclkitError
from iclkit.types import PredictionRecord

PREDICTIONS = "predictions.jsonl"
CONFIG = "config.json"
SUMMARY = "summary.json"
ENV_PACKAGES = ("iclkit", "torch", "transformers", "tokenizers", "datasets", "sentence-transformers", "bm25s",
                "numpy", "scikit-learn")


class TruncatedRecordWarning(UserWarning):
    """The last line of ``predictions.jsonl`` was cut off (the previous run was killed mid-write) and dropped."""


def _json_default(obj: Any) -> Any:
    """Paths, tuples/sets and numpy scalars appear in summaries; write them as plain JSON values."""
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=str)
    if hasattr(obj, "item"):  # numpy scalar
        return obj.item()
    if hasattr(obj, "tolist"):  # numpy array
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary sibling then rename, so a reader never sees a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _read_lines(path: Path) -> tuple[list[tuple[int, str]], bool]:
    """Non-empty ``(line number, text)`` pairs and whether the file lacks its final newline.

    Splits on ``"\\n"`` only: ``str.splitlines`` would also split on U+2028 or U+0085, which ``json.dumps`` leaves
    unescaped inside prompts.
    """
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = [(i + 1, ln) for i, ln in enumerate(text.split("\n")) if ln.strip()]
    return lines, bool(text) and not text.endswith("\n")


class PredictionWriter:
    """Append-only writer of ``<run_dir>/predictions.jsonl`` that knows what a previous run already finished.

    ``done_ids`` and ``records`` describe the file's content (loaded on construction, extended by ``write``).
    A last line that does not parse is the trace of a killed run: it is dropped with a
    :class:`TruncatedRecordWarning` and the file is rewritten without it. A bad line elsewhere means the file was
    edited or corrupted, and is an error rather than silent data loss.
    """

    def __init__(self, run_dir: str | os.PathLike[str], record_type: type = PredictionRecord) -> None:
        self.path = Path(run_dir) / PREDICTIONS
        self._record_type = record_type  # PredictionRecord, or GenRecord for generation runs
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.records: list[PredictionRecord] = []
        self.done_ids: set[str] = set()
        self._load()
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()/__exit__

    def _load(self) -> None:
        if not self.path.exists():
            return
        lines, rewrite = _read_lines(self.path)
        for pos, (lineno, line) in enumerate(lines):
            try:
                record = self._record_type.from_json(json.loads(line))
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                if pos < len(lines) - 1:
                    raise IclkitError(f"{self.path}: line {lineno} is not a valid prediction record ({e}); "
                                      "fix or delete the file to re-run") from e
                warnings.warn(f"{self.path}: dropped a truncated last line (the previous run was interrupted); "
                              "that example will be scored again", TruncatedRecordWarning, stacklevel=3)
                lines, rewrite = lines[:-1], True
                break
            self._remember(record)
        if rewrite:
            _atomic_write_text(self.path, "".join(line + "\n" for _, line in lines))

    def _remember(self, record) -> bool:
        if record.example_id in self.done_ids:
            return False
        self.done_ids.add(record.example_id)
        self.records.append(record)
        return True

    def write(self, record) -> bool:
        """Append ``record`` unless its example is already done; returns whether a line was written."""
        if self._file.closed:
            raise ValueError(f"{self.path} is closed")
        if not self._remember(record):
            return False
        self._file.write(json.dumps(record.to_json(), ensure_ascii=False) + "\n")
        self._file.flush()
        return True

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()

    def __enter__(self) -> PredictionWriter:  # noqa: PYI034 - typing.Self needs 3.11
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def read_predictions(run_dir: str | os.PathLike[str]) -> list[PredictionRecord]:
    """Records of a run directory (the same recovery rules as :class:`PredictionWriter`)."""
    with PredictionWriter(run_dir) as writer:
        return list(writer.records)


def scan_predictions(run_dir: str | os.PathLike[str]) -> list[PredictionRecord]:
    """Records of a run directory, read without writing anything (reports may read a run that is still going).

    A last line that does not parse (being written, or cut off) is skipped; a bad line elsewhere is an error.
    """
    path = Path(run_dir) / PREDICTIONS
    if not path.is_file():
        raise IclkitError(f"{path}: missing; a run directory needs its predictions file")
    lines, _ = _read_lines(path)
    records: dict[str, PredictionRecord] = {}
    for pos, (lineno, line) in enumerate(lines):
        try:
            record = PredictionRecord.from_json(json.loads(line))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            if pos == len(lines) - 1:
                break
            raise IclkitError(f"{path}: line {lineno} is not a valid prediction record ({e})") from e
        records.setdefault(record.example_id, record)
    return list(records.values())


class RunDir:
    """A run's output directory; guards against resuming it with a configuration that changes results."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    def create(self) -> Path | None:
        """Create the directory (and missing parents); return the topmost folder this call created, if any.

        Fails with one line naming the path when it is a file or cannot be created or written, before any work.
        """
        if self.path.exists() and not self.path.is_dir():
            raise IclkitError(f"{self.path}: exists and is not a directory; choose another run directory (--out)")
        created = next((p for p in reversed((self.path, *self.path.parents)) if not p.exists()), None)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise IclkitError(f"{self.path}: cannot create the run directory ({exc.strerror or exc})") from None
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise IclkitError(f"{self.path}: the run directory is not writable")
        return created

    def has_results(self) -> bool:
        predictions = self.path / PREDICTIONS
        return predictions.exists() and predictions.stat().st_size > 0

    def discard(self, created: Path | None) -> None:
        """Remove what :meth:`create` made if no prediction was written, so that a run that failed before its
        first result leaves nothing a later run or report could mistake for a real (empty) run."""
        if created is not None and not self.has_results():
            shutil.rmtree(created, ignore_errors=True)

    def check_config(self, config: Mapping[str, Any], ignore: Iterable[str] = ()) -> None:
        """Store ``config`` on first use; afterwards raise if any key outside ``ignore`` differs from the stored one.

        Keys like ``limit`` or ``batch_size`` do not change predictions and may differ between resumed runs;
        anything else (model, seed, scorer, ...) would silently mix two experiments in one ``predictions.jsonl``.
        """
        current = json.loads(json.dumps(dict(config), default=_json_default))  # tuples -> lists, as stored
        if not self.config_path.exists():
            self.path.mkdir(parents=True, exist_ok=True)
            _atomic_write_text(self.config_path, json.dumps(current, indent=2, sort_keys=True) + "\n")
            return
        stored = self._stored_config()
        skip = set(ignore)
        differing = sorted(k for k in set(stored) | set(current)
                           if k not in skip and stored.get(k, _MISSING) != current.get(k, _MISSING))
        if differing:
            detail = "; ".join(f"{k}: stored {_show(stored.get(k, _MISSING))}, now {_show(current.get(k, _MISSING))}"
                               for k in differing)
            raise IclkitError(f"{self.path} holds a run with a different configuration ({detail}). "
                              f"Use a new --out directory, or delete {self.path} to start over.")

    def _stored_config(self) -> dict[str, Any]:
        try:
            stored = json.loads(self.config_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise IclkitError(f"{self.config_path}: cannot read the stored run configuration ({e}); "
                              f"delete {self.path} to start over") from e
        if not isinstance(stored, dict):
            raise IclkitError(f"{self.config_path}: expected a JSON object; delete {self.path} to start over")
        return stored


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


def _show(value: Any) -> str:
    return repr(value) if value is _MISSING else json.dumps(value)


def write_summary(run_dir: str | os.PathLike[str], summary: Mapping[str, Any]) -> Path:
    """Write ``<run_dir>/summary.json`` atomically (an interrupted write leaves the previous summary intact)."""
    path = Path(run_dir) / SUMMARY
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write_text(path, json.dumps(summary, indent=2, ensure_ascii=False, default=_json_default) + "\n")
    return path


def read_summary(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(run_dir) / SUMMARY
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise IclkitError(f"{path}: cannot read the run summary ({e})") from e


def environment_info() -> dict[str, Any]:
    """Python, platform and package versions, for reproducing a run (metadata only: no heavy imports)."""
    packages: dict[str, str | None] = {}
    for name in ENV_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {"python": platform.python_version(), "platform": platform.platform(), "packages": packages}


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks (model weights are hundreds of MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()
