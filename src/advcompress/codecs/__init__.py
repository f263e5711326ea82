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


def make_codec_from_settings(name: str, quality, settings: dict, checkpoint: str | None = None):
    """The one place a job turns (codec, quality, settings) into a codec object: a classic codec
    takes only its quality; a learned one its weights, widths, device and `checkpoint` from a job's
    codec settings, plus the settings of a wrapper such as `+online`."""
    from advcompress.device import pick_device

    if codec_entry(name).family == "classic":
        return make_codec(name, quality)
    return make_codec(
        name,
        int(quality),
        weights=settings.get("weights", "trained"),
        checkpoint=checkpoint,
        widths=settings.get("widths"),
        device=pick_device(settings.get("device", "auto")),
        # settings of a codec wrapper (`<model>+online`); learned codecs ignore it
        **({"online": settings["online"]} if "online" in settings else {}),
    )


def __getattr__(name: str):
    if name in ("Bitstream", "Codec"):
        from advcompress.codecs import base

        return getattr(base, name)
    raise AttributeError(f"module 'advcompress.codecs' has no attribute {name!r}")


__all__ = ["Bitstream", "Codec", "codec_entry", "make_codec", "make_codec_from_settings", "register_codec",
           "registered_codecs"]
