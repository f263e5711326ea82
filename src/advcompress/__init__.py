"""Security of image compression: attacks on learned codecs, compression defenses, backdoors."""

__version__ = "0.1.0"
