"""The codec registry: `make_codec(name, quality, **settings)` gives any codec behind one interface."""

from advcompress.codecs.base import Bitstream, Codec
from advcompress.codecs.registry import codec_entry, register_codec, registered_codecs


def make_codec(name: str, quality, **settings) -> Codec:
    """Build codec `name` at `quality`; learned codecs take weights/checkpoint/widths/device."""
    entry = codec_entry(name)
    if entry.family == "classic":
        return entry.build(quality)
    return entry.build(quality, **settings)


__all__ = ["Bitstream", "Codec", "codec_entry", "make_codec", "register_codec", "registered_codecs"]
