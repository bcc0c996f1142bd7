"""One generic name registry for every extension point (retrievers, scorers, orderings, metrics).

Built-ins are registered as lazy ``"module:attr"`` strings so that listing or resolving a name never imports torch
or sentence-transformers until that component is actually used. Third-party packages add entries through the
``iclkit.plugins`` entry-point group: each entry point is a callable taking no arguments that registers its names.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any, Generic, TypeVar

from iclkit.errors import IclkitError, did_you_mean, unknown_name

T = TypeVar("T")
_PLUGINS_LOADED = False


class Registry(Generic[T]):
    """Short name → object (or lazy ``"module:attr"`` string resolved on first use)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T | str] = {}

    def register(self, name: str, target: T | str | None = None) -> Callable[[T], T] | None:
        """Register ``target`` under ``name``; without ``target`` returns a decorator."""
        if target is not None:
            self._add(name, target)
            return None

        def decorator(obj: T) -> T:
            self._add(name, obj)
            return obj

        return decorator

    def _add(self, name: str, target: T | str) -> None:
        if name in self._entries and self._entries[name] is not target:
            existing = self._entries[name]
            if not (isinstance(existing, str) and not isinstance(target, str)):
                raise IclkitError(f"{self.kind} '{name}' is registered twice")
        self._entries[name] = target

    def get(self, name: str) -> T:
        _load_plugins()
        if name not in self._entries:
            raise unknown_name(self.kind, name, self._entries)
        target = self._entries[name]
        if isinstance(target, str):
            module_name, _, attr = target.partition(":")
            target = getattr(importlib.import_module(module_name), attr)
            self._entries[name] = target
        return target

    def names(self) -> list[str]:
        _load_plugins()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        _load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def _load_plugins() -> None:
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True
    from importlib.metadata import entry_points

    for entry in entry_points(group="iclkit.plugins"):
        entry.load()()


def keyword_options(fn: Callable[..., Any], *, exclude: Collection[str] = ()) -> tuple[list[str], bool]:
    """The keyword options ``fn`` accepts (minus ``exclude``), and whether it also takes ``**kwargs``."""
    names, open_ended = [], False
    for p in inspect.signature(fn).parameters.values():
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            open_ended = True
        elif (p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
              and p.name not in exclude and p.name not in ("self", "cls")):
            names.append(p.name)
    return names, open_ended


def check_options(what: str, fn: Callable[..., Any], options: Mapping[str, Any], *,
                  exclude: Collection[str] = (), hint: str = "") -> None:
    """Refuse options that ``fn`` does not take, with a did-you-mean, instead of ignoring them.

    ``exclude`` names parameters the caller fills itself (a seed, the model name), which users must not pass.
    A function with ``**kwargs`` cannot be checked here; its owner checks what it forwards.
    """
    names, open_ended = keyword_options(fn, exclude=exclude)
    if open_ended:
        return
    for key in options:
        if key not in names:
            known = ", ".join(sorted(names)) or "none"
            raise IclkitError(f"{what}: unknown option '{key}'{did_you_mean(str(key), names)}; "
                              f"its options: {known}{hint}")
