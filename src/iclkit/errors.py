"""User-facing errors: one clear message naming the file, row or field, and exit code 2 from the CLI."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class IclkitError(Exception):
    """An error caused by the user's input (config, data file, names). The CLI prints it without a traceback."""

    exit_code = 2


class BackendError(IclkitError):
    """The model back-end or the environment failed (a server outage, a crashed or missing native library, out of
    memory), not the user's input. The CLI prints it as one line and exits with code 3, so scripts can tell
    "fix your command" (2) from "try again / check the machine" (3)."""

    exit_code = 3


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""`` when nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> IclkitError:
    choices = sorted(choices)
    return IclkitError(f"unknown {kind} '{name}'{did_you_mean(name, choices)}; known: {', '.join(choices)}")


def yaml_problem(exc: Exception) -> str:
    """A PyYAML error's multi-line message as one line: where, then what."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{where}: {problem}"
