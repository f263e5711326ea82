"""One registry for every codec: a new codec is one registered class or builder."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from advcompress.codecs.catalog import CATALOG, check_registration
from advcompress.errors import UnknownNameError

_REGISTRY: dict[str, CodecEntry] = {}


@dataclass(frozen=True)
class CodecEntry:
    name: str
    family: str  # "learned" or "classic"
    build: Callable  # build(quality, **settings) -> Codec
    description: str = ""


def register_codec(name: str, family: str, description: str = "", variable_rate: bool = False):
    """Decorator: `@register_codec("jpeg", "classic")` on a class or factory taking (quality, **settings).

    The name must be listed in `advcompress.codecs.catalog` with the same facts.
    """

    def deco(builder):
        if name in _REGISTRY:
            raise ValueError(f"codec {name!r} is registered twice")
        check_registration(name, family, variable_rate)
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
    if name not in _REGISTRY and name in CATALOG:
        # Only the module that registers `name`: a JPEG job never imports CompressAI.
        importlib.import_module(CATALOG[name].module)
    if name in _REGISTRY:
        return _REGISTRY[name]
    if "+" in name:
        _load_wrappers()
    derived = _derived_entry(name)
    if derived is None:
        raise UnknownNameError(f"unknown codec {name!r}; registered: {', '.join(registered_codecs())}; "
                               f"{derived_forms()}")
    return derived


def derived_forms() -> str:
    """How derived codec names are spelled, for error messages."""
    wrappers = ", ".join(f"<codec>{s}" for s in sorted(_WRAPPERS))
    return f"or <learned>@<tag> (other weights){', ' + wrappers if wrappers else ''}"


def registered_codecs(family: str | None = None) -> list[str]:
    _load_builtin()
    return sorted(n for n, e in _REGISTRY.items() if family in (None, e.family))


def _load_wrappers() -> None:
    from advcompress.codecs import wrappers  # noqa: F401  (registers +online)


def _load_builtin() -> None:
    # Importing the modules runs their @register_codec decorators.
    _load_wrappers()
    for module in sorted({facts.module for facts in CATALOG.values()}):
        importlib.import_module(module)
