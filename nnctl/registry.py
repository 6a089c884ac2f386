"""One name lookup for every registry (activations, losses, optimizers, schedules,
initializers, metrics): aliases, the valid choices in the error, and a did-you-mean.

    >>> ACTIVATIONS.lookup("rleu")
    ConfigError: unknown activation 'rleu'; expected one of arctan, ... (did you mean 'relu'?)
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

from .errors import ConfigError

T = TypeVar("T")


def did_you_mean(name: str, choices) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    if len(str(name)) > 100:  # no name is that long, and difflib would take its time
        return ""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def normalize(name) -> str:
    """Names are looked up trimmed, lower-case, with ``-`` read as ``_``."""
    return str(name).strip().lower().replace("-", "_")


class Registry(Mapping, Generic[T]):
    """Entries by canonical name, with aliases. A ``Mapping`` of the canonical names only."""

    def __init__(self, kind: str, entries: dict[str, T], aliases: dict[str, str] | None = None,
                 *, show_aliases: bool = False) -> None:
        self.kind = kind
        self._entries = dict(entries)
        self.aliases = {normalize(a): c for a, c in (aliases or {}).items()}
        for alias, canonical in self.aliases.items():
            if canonical not in self._entries:
                raise ValueError(f"alias {alias!r} names no {kind} ({canonical!r})")
        self.show_aliases = show_aliases

    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def choices(self) -> list[str]:
        """Every name a config may use: canonical names, then aliases."""
        return sorted(self._entries) + sorted(self.aliases)

    def name(self, name) -> str:
        """The canonical name for ``name`` or an alias; a ``ConfigError`` lists the choices."""
        key = normalize(name)
        key = self.aliases.get(key, key)
        if key in self._entries:
            return key
        aliases = f" (aliases: {', '.join(sorted(self.aliases))})" if self.show_aliases and self.aliases else ""
        shown = str(name) if len(str(name)) <= 60 else f"{str(name)[:60]}... ({len(str(name)):,} characters)"
        raise ConfigError(f"unknown {self.kind} '{shown}'; expected one of"
                          f" {', '.join(sorted(self._entries))}{aliases}"
                          f"{did_you_mean(key, self.choices)}")

    def lookup(self, name) -> T:
        """The entry for ``name`` or an alias; a ``ConfigError`` lists the choices."""
        return self._entries[self.name(name)]
