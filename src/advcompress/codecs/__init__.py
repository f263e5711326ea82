"""The codec registry: `make_codec(name, quality, **settings)` gives any codec behind one interface.

Importing the package stays torch-free (Snakemake plans from `codecs.catalog`); `Codec` and
`Bitstream` load `codecs.base`, and with it torch, on first use.
"""

import warnings

from advcompress.codecs.registry import codec_entry, register_codec, registered_codecs

# CompressAI 1.2.8 scripts a helper with torch.jit.script, deprecated in torch 2.14: not our bug.
warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)


def make_codec(name: str, quality, **settings):
    """Build codec `name` at `quality`; learned codecs take weights/checkpoint/widths/device."""
    entry = codec_entry(name)
    if entry.family == "classic":
        return entry.build(quality)
    return entry.build(quality, **settings)


def __getattr__(name: str):
    if name in ("Bitstream", "Codec"):
        from advcompress.codecs import base

        return getattr(base, name)
    raise AttributeError(f"module 'advcompress.codecs' has no attribute {name!r}")


__all__ = ["Bitstream", "Codec", "codec_entry", "make_codec", "register_codec", "registered_codecs"]
