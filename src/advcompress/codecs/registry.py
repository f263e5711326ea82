"""One registry for every codec: a new codec is one registered class or builder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

_REGISTRY: dict[str, CodecEntry] = {}


@dataclass(frozen=True)
class CodecEntry:
    name: str
    family: str  # "learned" or "classic"
    build: Callable  # build(quality, **settings) -> Codec
    description: str = ""


def register_codec(name: str, family: str, description: str = ""):
    """Decorator: `@register_codec("jpeg", "classic")` on a class or factory taking (quality, **settings)."""

    def deco(builder):
        if name in _REGISTRY:
            raise ValueError(f"codec {name!r} is registered twice")
        _REGISTRY[name] = CodecEntry(name, family, builder, description or (builder.__doc__ or "").strip())
        return builder

    return deco


def codec_entry(name: str) -> CodecEntry:
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown codec {name!r}; registered: {', '.join(sorted(_REGISTRY))}") from None


def registered_codecs(family: str | None = None) -> list[str]:
    _load_builtin()
    return sorted(n for n, e in _REGISTRY.items() if family in (None, e.family))


def _load_builtin() -> None:
    # Importing the modules runs their @register_codec decorators.
    from advcompress.codecs import arch, classic, learned  # noqa: F401
