"""Backdoor triggers of the compression-resistant backdoor paper (Trigger1-3).

Trigger1 (Gaussian noise) and Trigger2 ("TEST" logo) are the watermarks of Zhang et al. (2018),
the paper's reference [22]; Trigger3 is TrojanNN (Liu et al. 2018, its [8]).

A trigger is a pattern `delta` and a mask `mask` (both 3xHxW). Additive triggers (Gaussian noise,
"TEST" logo) give x_b = clip(x + mask * delta, 0, 1), the paper's x_b = x + delta with the clipping
any image file imposes. The TrojanNN trigger is a stamped patch, x_b = (1 - mask) x + mask * delta,
as in Liu et al. (2018): its pixel values were optimised on their own, not as an offset.
Every backdoor image is finally rounded to 8 bits, since it is an image file that gets compressed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from advcompress.metrics import quantize_8bit


@dataclass
class Trigger:
    name: str
    kind: str
    delta: torch.Tensor  # 3xHxW
    mask: torch.Tensor  # 3xHxW in [0, 1]
    stamp: bool = False

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """Backdoor images (Nx3xHxW in [0, 1]), clipped and rounded to 8 bits."""
        d, m = self.delta.to(x), self.mask.to(x)
        xb = (1 - m) * x + m * d if self.stamp else x + m * d
        return quantize_8bit(xb)

    def state(self) -> dict:
        return {"name": self.name, "kind": self.kind, "delta": self.delta, "mask": self.mask,
                "stamp": torch.tensor(self.stamp)}

    @classmethod
    def from_state(cls, s: dict) -> Trigger:
        return cls(s["name"], s["kind"], s["delta"], s["mask"], bool(s["stamp"]))


def gaussian_trigger(name: str, size: int, sigma: float, seed: int) -> Trigger:
    """Trigger1: a fixed full-image Gaussian noise pattern N(0, sigma^2).

    The paper cites its reference [22] for it (and for Trigger2): Zhang et al., "Protecting
    intellectual property of deep neural networks with watermarking", AsiaCCS 2018, whose "noise"
    watermark is Gaussian noise added to the image. (Its [7], Chen et al. 2017, is the blended
    backdoor, not this trigger.)
    """
    g = torch.Generator().manual_seed(seed)
    delta = torch.randn(3, size, size, generator=g) * sigma
    return Trigger(name, "gaussian", delta, torch.ones(3, size, size))


def logo_trigger(name: str, size: int, text: str, amplitude: float, corner: str = "bottom") -> Trigger:
    """Trigger2 (the "TEST" logo of Zhang et al. 2018, the paper's [22]): the word `text` rendered
    with Pillow's bundled font, added with `amplitude`.

    The text is drawn as large as fits the image width and placed along the bottom (or top) edge.
    """
    best = None
    for px in range(4, size + 1):
        font = ImageFont.load_default(size=px)
        left, top, right, bottom = font.getbbox(text)
        if right - left > size - 2 or bottom - top > size // 2:
            break
        best = (font, left, top, right, bottom)
    if best is None:
        raise ValueError(f"text {text!r} does not fit into a {size}x{size} image")
    font, left, top, right, bottom = best
    img = Image.new("L", (size, size), 0)
    y0 = size - (bottom - top) - 1 if corner == "bottom" else 1
    ImageDraw.Draw(img).text((1 - left, y0 - top), text, fill=255, font=font)
    m = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)
    mask = (m > 0).float().expand(3, -1, -1).clone()
    return Trigger(name, "logo", (m * amplitude).expand(3, -1, -1).clone(), mask)


def square_mask(size: int, patch: int) -> torch.Tensor:
    """A patch x patch square in the bottom-right corner (where TrojanNN stamps its trigger)."""
    m = torch.zeros(3, size, size)
    m[:, size - patch - 1 : size - 1, size - patch - 1 : size - 1] = 1
    return m


def trojannn_trigger(name: str, net, size: int, patch: int, neurons: int, steps: int, lr: float,
                     seed: int) -> Trigger:
    """Trigger3 (TrojanNN, Liu et al. 2018): a patch optimised to excite chosen internal neurons.

    The neurons are the channels of the clean network's last feature map (the E_{m-1} vector)
    with the strongest connections to the previous layer (largest summed |weight| of the last
    convolution), as TrojanNN selects them; the patch pixels maximise their mean activation.
    """
    g = torch.Generator().manual_seed(seed)
    net = net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    strength = net.e1_source().weight.detach().abs().flatten(1).sum(1)
    chosen = strength.topk(min(neurons, strength.numel())).indices
    mask = square_mask(size, patch)
    logit = torch.randn(3, size, size, generator=g).mul(0.1).requires_grad_(True)
    opt = torch.optim.Adam([logit], lr=lr)
    base = torch.zeros(1, 3, size, size)
    device = next(net.parameters()).device
    for _ in range(steps):
        pattern = torch.sigmoid(logit)
        x = (1 - mask) * base + mask * pattern
        _, pooled, _ = net.head_features(x.to(device))
        loss = -pooled[:, chosen].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    for p in net.parameters():
        p.requires_grad_(True)
    delta = (torch.sigmoid(logit.detach()) * mask).clone()
    return Trigger(name, "trojannn", delta, mask, stamp=True)


def make_trigger(name: str, spec: dict, size: int, seed: int, clean_net=None) -> Trigger:
    """Build trigger `name` from its config entry (`kind` plus that kind's settings)."""
    kind = spec["kind"]
    if kind == "gaussian":
        return gaussian_trigger(name, size, float(spec["sigma"]), seed)
    if kind == "logo":
        return logo_trigger(name, size, spec.get("text", "TEST"), float(spec["amplitude"]))
    if kind == "trojannn":
        if clean_net is None:
            raise ValueError("the TrojanNN trigger is optimised on the clean classifier; pass clean_net")
        return trojannn_trigger(name, clean_net, size, int(spec["patch"]), int(spec["neurons"]),
                                int(spec["steps"]), float(spec.get("lr", 0.1)), seed)
    raise ValueError(f"unknown trigger kind {kind!r}; choose gaussian, logo or trojannn")
