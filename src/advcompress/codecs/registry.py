"""One registry for every codec: a new codec is one registered class or builder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from advcompress.errors import UnknownNameError

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


# Derived codecs are names built on a registered one, so every rule applies to them unchanged:
# `<learned>@<tag>` is the same architecture with other weights (e.g. an adversarially fine-tuned
# checkpoint, which the caller passes), `<codec><suffix>` wraps a codec (e.g. `+online`).
_WRAPPERS: dict[str, Callable] = {}  # suffix -> wrap(codec, **settings) -> Codec


def register_wrapper(suffix: str, wrap: Callable) -> None:
    """`register_wrapper("+online", wrap)`: `make_codec("x+online", ...)` is `wrap(make_codec("x", ...))`."""
    if not suffix or suffix[0] not in "+":
        raise ValueError(f"wrapper suffixes start with '+', not {suffix!r}")
    if suffix in _WRAPPERS:
        raise ValueError(f"codec wrapper {suffix!r} is registered twice")
    _WRAPPERS[suffix] = wrap


def _derived_entry(name: str) -> CodecEntry | None:
    for suffix, wrap in _WRAPPERS.items():
        if name.endswith(suffix) and len(name) > len(suffix):
            inner = codec_entry(name[: -len(suffix)])

            def build_wrapped(quality, _inner=inner, _wrap=wrap, **settings):
                codec = _wrap(_inner.build(quality, **settings), **settings)
                codec.name = name
                return codec

            return CodecEntry(name, inner.family, build_wrapped, f"{inner.description} {suffix}")
    if "@" in name:
        base, tag = name.rsplit("@", 1)
        inner = codec_entry(base)
        if inner.family != "learned" or not tag:
            raise UnknownNameError(f"codec {name!r}: only learned codecs have fine-tuned variants <name>@<tag>")

        def build_variant(quality, _inner=inner, **settings):
            codec = _inner.build(quality, **settings)
            codec.name = name
            return codec

        return CodecEntry(name, "learned", build_variant, f"{inner.description}, weights {tag}")
    return None


def codec_entry(name: str) -> CodecEntry:
    if name not in _REGISTRY:
        _load_classic()
    if name not in _REGISTRY:
        _load_builtin()
    if name in _REGISTRY:
        return _REGISTRY[name]
    derived = _derived_entry(name)
    if derived is None:
        raise UnknownNameError(f"unknown codec {name!r}; registered: {', '.join(sorted(_REGISTRY))}; "
                               f"{derived_forms()}")
    return derived


def derived_forms() -> str:
    """How derived codec names are spelled, for error messages."""
    wrappers = ", ".join(f"<codec>{s}" for s in sorted(_WRAPPERS))
    return f"or <learned>@<tag> (other weights){', ' + wrappers if wrappers else ''}"


def registered_codecs(family: str | None = None) -> list[str]:
    _load_builtin()
    return sorted(n for n, e in _REGISTRY.items() if family in (None, e.family))


def _load_classic() -> None:
    # Classic codecs alone: a job that only runs JPEG & co. skips importing CompressAI (~2 s a job).
    from advcompress.codecs import classic  # noqa: F401


def _load_builtin() -> None:
    # Importing the modules runs their @register_codec decorators.
    from advcompress import defenses  # noqa: F401  (codec wrappers: +online)
    from advcompress.codecs import arch, classic, learned  # noqa: F401
