"""Every built-in codec by name, with what planning needs to know of it, importable without torch.

Snakemake plans the DAG from this table alone: a variable-rate model trains once (checkpoint
`qvr`), and config names are checked against it. Importing the codecs themselves costs ~5 s of
torch and CompressAI in every `snakemake` call, and the table is also where the registry finds
the module that registers a name, so a job imports only the codecs it uses. The registry refuses
a codec that is missing here or whose facts differ, so the table cannot drift from the code.
"""

from __future__ import annotations

from dataclasses import dataclass

from advcompress.errors import UnknownNameError


@dataclass(frozen=True)
class CodecFacts:
    family: str  # "learned" or "classic"
    module: str  # imported to register the codec
    variable_rate: bool = False  # one network for every quality: trains once


_CLASSIC = "advcompress.codecs.classic"
_COMPRESSAI = "advcompress.codecs.learned"
_ARCH = "advcompress.codecs.arch."

CATALOG: dict[str, CodecFacts] = {
    **{name: CodecFacts("classic", _CLASSIC) for name in ("jpeg", "webp", "jpeg2000", "avif", "heif")},
    **{name: CodecFacts("learned", _COMPRESSAI)
       for name in ("bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018", "cheng2020-anchor",
                    "cheng2020-attn")},
    "mbt2018-mean-vbr": CodecFacts("learned", _COMPRESSAI, variable_rate=True),
    "cai2022": CodecFacts("learned", _ARCH + "cai2022", variable_rate=True),
    "song2021": CodecFacts("learned", _ARCH + "song2021", variable_rate=True),
    **{name: CodecFacts("learned", _ARCH + name) for name in ("elic", "hific", "stf", "tcm")},
}


def codec_names(family: str | None = None) -> list[str]:
    return sorted(n for n, f in CATALOG.items() if family in (None, f.family))


def facts(name: str) -> CodecFacts:
    if name not in CATALOG:
        raise UnknownNameError(f"unknown codec {name!r}; known: {', '.join(codec_names())}")
    return CATALOG[name]


def is_variable_rate(name: str) -> bool:
    return facts(name).variable_rate


def check_registration(name: str, family: str, variable_rate: bool = False) -> None:
    """Called by the registry for every codec it registers."""
    listed = CATALOG.get(name)
    if listed is None or (listed.family, listed.variable_rate) != (family, variable_rate):
        raise ValueError(
            f"codec {name!r} ({family}, variable_rate={variable_rate}) does not match "
            f"advcompress/codecs/catalog.py ({listed}); list it there, as planning reads "
            "that table without importing the codecs"
        )
