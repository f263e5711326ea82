"""Classic codecs through Pillow: the file Pillow writes is the bitstream, headers included."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from advcompress.codecs.base import Bitstream, Codec
from advcompress.codecs.registry import register_codec
from advcompress.device import to_numpy


def to_pil(x: torch.Tensor) -> Image.Image:
    """1x3xHxW float in [0, 1] -> 8-bit RGB image (rounded, as any file writer would)."""
    arr = to_numpy((x.detach()[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0))
    return Image.fromarray(arr, "RGB")


def from_pil(img: Image.Image, device="cpu") -> torch.Tensor:
    arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).to(device)


class PillowCodec(Codec):
    """A codec that is one Pillow `save` format; subclasses name the format and the quality knob."""

    family = "classic"
    format: str = ""
    # True where a larger quality number means higher fidelity (false for JPEG 2000 rates).
    higher_is_better: bool = True

    def save_kwargs(self) -> dict:
        return {"quality": int(self.quality)}

    def compress(self, x: torch.Tensor) -> Bitstream:
        if x.shape[0] != 1:
            raise ValueError("compress codes one image at a time (batch size 1)")
        buf = io.BytesIO()
        to_pil(x).save(buf, self.format, **self.save_kwargs())
        h, w = x.shape[-2:]
        return Bitstream([buf.getvalue()], (h, w), (h, w))

    def decompress(self, bitstream: Bitstream) -> torch.Tensor:
        with Image.open(io.BytesIO(bitstream.strings[0])) as img:
            img.load()
            return from_pil(img)


@register_codec("jpeg", "classic", "JPEG (libjpeg via Pillow); quality 1-95")
class JpegCodec(PillowCodec):
    name = "jpeg"
    format = "JPEG"

    def save_kwargs(self) -> dict:
        # 4:2:0 chroma subsampling, Pillow's and libjpeg's default for quality < 90 too.
        return {"quality": int(self.quality), "subsampling": 2, "optimize": False}


@register_codec("webp", "classic", "WebP (libwebp via Pillow), lossy; quality 0-100")
class WebpCodec(PillowCodec):
    name = "webp"
    format = "WEBP"

    def save_kwargs(self) -> dict:
        return {"quality": int(self.quality), "method": 4, "lossless": False}


@register_codec("jpeg2000", "classic", "JPEG 2000 (OpenJPEG via Pillow); quality = compression ratio")
class Jpeg2000Codec(PillowCodec):
    """`quality` is OpenJPEG's compression ratio (`quality_mode="rates"`): larger means smaller files.

    Every other setting is Pillow's default, as in the compression-resistant backdoor paper (which
    codes with Pillow and sets only the quality layers): in particular the reversible 5/3 wavelet
    (Pillow's `irreversible=False`), not the irreversible 9/7 one.
    """

    name = "jpeg2000"
    format = "JPEG2000"
    higher_is_better = False

    def save_kwargs(self) -> dict:
        return {"quality_mode": "rates", "quality_layers": [float(self.quality)]}


@register_codec("avif", "classic", "AVIF (AV1 intra via Pillow's libavif); quality 0-100")
class AvifCodec(PillowCodec):
    name = "avif"
    format = "AVIF"

    def save_kwargs(self) -> dict:
        return {"quality": int(self.quality), "speed": 8}


def heif_available() -> bool:
    try:
        import pillow_heif  # noqa: F401
    except ImportError:
        return False
    return True


@register_codec("heif", "classic", "HEIF (HEVC intra via pillow-heif's libheif); quality 0-100")
class HeifCodec(PillowCodec):
    """HEVC intra coding, the closest available stand-in for BPG."""

    name = "heif"
    format = "HEIF"

    def __init__(self, quality):
        if not heif_available():
            raise RuntimeError("the heif codec needs the pillow-heif package: pip install pillow-heif")
        import pillow_heif

        pillow_heif.register_heif_opener()
        super().__init__(quality)
