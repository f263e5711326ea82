"""The one codec interface every study talks to, learned or classic."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import torch

from advcompress.errors import CheckpointError


def load_blob(path):
    """Whatever a project or official checkpoint holds, loaded with weights_only=True; any failure is
    a CheckpointError that names the file and says how to get it back."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for truncated or foreign files
        raise CheckpointError(
            f"checkpoint {path} is unreadable ({type(e).__name__}: {str(e).splitlines()[0].split('. ')[0][:160]}); "
            "delete it and rerun its train rule, or restore it with `dvc pull`"
        ) from None


def load_state(path) -> dict:
    """A state dict from a checkpoint file (bare, or under "state_dict")."""
    blob = load_blob(path)
    if isinstance(blob, dict) and "state_dict" in blob:
        return blob["state_dict"]
    if isinstance(blob, dict):
        return blob
    raise CheckpointError(f"checkpoint {path} holds {type(blob).__name__}, not a state dict")


@dataclass
class Bitstream:
    """What a real encoder produced: payload strings plus the side facts a decoder needs.

    `nbytes` counts the payload only, as CompressAI's evaluation does; for classic codecs the
    payload is the whole file (headers included), since that is what a JPEG decoder reads.
    """

    strings: list[bytes]
    shape: tuple[int, ...]  # latent shape (learned) or image (H, W) (classic)
    image_size: tuple[int, int]  # H, W of the image that was coded
    extra: dict = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return sum(len(s) for s in self.strings)

    def bpp(self) -> float:
        h, w = self.image_size
        return 8.0 * self.nbytes / (h * w)

    def to_bytes(self) -> bytes:
        """A self-contained container (header + strings), for storing a bitstream on disk."""
        head = struct.pack("<HHB", *self.image_size, len(self.shape)) + struct.pack(
            f"<{len(self.shape)}I", *self.shape
        )
        body = struct.pack("<H", len(self.strings)) + b"".join(
            struct.pack("<I", len(s)) + s for s in self.strings
        )
        return head + body

    @classmethod
    def from_bytes(cls, blob: bytes) -> Bitstream:
        h, w, nd = struct.unpack_from("<HHB", blob, 0)
        off = 5
        shape = struct.unpack_from(f"<{nd}I", blob, off)
        off += 4 * nd
        (n,) = struct.unpack_from("<H", blob, off)
        off += 2
        strings = []
        for _ in range(n):
            (k,) = struct.unpack_from("<I", blob, off)
            off += 4
            strings.append(blob[off : off + k])
            off += k
        return cls(strings, tuple(shape), (h, w))


class Codec:
    """Base of every registered codec.

    `compress`/`decompress` code one image (1x3xHxW in [0, 1]) to real bytes and back.
    Learned codecs also have a differentiable `forward` returning the reconstruction and the
    likelihoods; classic codecs leave `differentiable` False.
    """

    name: str = "codec"
    family: str = "classic"
    differentiable: bool = False

    def __init__(self, quality):
        self.quality = quality

    def compress(self, x: torch.Tensor) -> Bitstream:
        raise NotImplementedError

    def decompress(self, bitstream: Bitstream) -> torch.Tensor:
        raise NotImplementedError

    def roundtrip(self, x: torch.Tensor) -> tuple[torch.Tensor, Bitstream]:
        bs = self.compress(x)
        return self.decompress(bs), bs

    @property
    def label(self) -> str:
        return f"{self.name}@q{self.quality}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label}>"
