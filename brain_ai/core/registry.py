"""The one helper behind every registry by name (surrogates, encoders, decoders)."""

from __future__ import annotations

from typing import Dict, TypeVar

T = TypeVar("T", bound=type)


def register(registry: Dict[str, type], cls: T, base: type, kind: str) -> T:
    """Add ``cls`` (a ``base`` subclass with a non-empty ``name``) to ``registry`` under ``cls.name``.

    Registering the same class twice is a no-op; another class under a taken name is an error.
    """
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise TypeError(f"register: {cls!r} is not a {base.__name__} subclass")
    if not getattr(cls, "name", ""):
        raise ValueError(f"{cls.__name__}.name must be set to register it as a {kind}")
    if cls.name in registry and registry[cls.name] is not cls:
        raise ValueError(f"a {kind} named {cls.name!r} is already registered ({registry[cls.name].__name__})")
    registry[cls.name] = cls
    return cls
