"""The codec registry: `make_codec(name, quality, **settings)` gives any codec behind one interface."""

import warnings

# CompressAI 1.2.8 scripts a helper with torch.jit.script, deprecated in torch 2.14: not our bug.
warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)

from advcompress.codecs.base import Bitstream, Codec  # noqa: E402
from advcompress.codecs.registry import codec_entry, register_codec, registered_codecs  # noqa: E402


def make_codec(name: str, quality, **settings) -> Codec:
    """Build codec `name` at `quality`; learned codecs take weights/checkpoint/widths/device."""
    entry = codec_entry(name)
    if entry.family == "classic":
        return entry.build(quality)
    return entry.build(quality, **settings)


__all__ = ["Bitstream", "Codec", "codec_entry", "make_codec", "register_codec", "registered_codecs"]
