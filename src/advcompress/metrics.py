"""Rate and distortion in the project's units: bpp, MSE on the 0-255 scale, PSNR in dB, MS-SSIM."""

from __future__ import annotations

import math

import torch

PEAK = 255.0


def mse255(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image MSE on the 0-255 scale (inputs in [0, 1]): 255^2 * mean((x - y)^2)."""
    return (PEAK**2) * (x - y).pow(2).flatten(1).mean(1)


def psnr_db(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB for a 255 peak; +inf for identical images."""
    return psnr_from_mse255(mse255(x, y))


def psnr_from_mse255(m: torch.Tensor | float):
    if isinstance(m, torch.Tensor):
        return 10 * torch.log10(PEAK**2 / m)
    return math.inf if m == 0 else 10 * math.log10(PEAK**2 / m)


def perturbation_norm(delta: torch.Tensor) -> torch.Tensor:
    """The RD attacks' budget norm: mean squared perturbation on [0, 1], per image."""
    return delta.pow(2).flatten(1).mean(1)


def ms_ssim(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Per-image MS-SSIM (data range 1) and the Gaussian window it used.

    The standard window is 11 with five scales, which needs a short side above 160 pixels; for
    smaller images the window shrinks to the largest odd size that fits (recorded alongside).
    """
    from pytorch_msssim import ms_ssim as _ms_ssim

    side = min(x.shape[-2:])
    win = 11
    while win > 3 and side <= (win - 1) * 16:
        win -= 2
    if side <= (win - 1) * 16:
        return torch.full((x.shape[0],), float("nan")), win
    return _ms_ssim(x.float(), y.float(), data_range=1.0, size_average=False, win_size=win), win


def quantize_8bit(x: torch.Tensor) -> torch.Tensor:
    """Clip to [0, 1] and round to 8 bits: what an image file can actually hold."""
    return (x.clamp(0, 1) * 255).round() / 255


def is_finite(*values) -> bool:
    return all(math.isfinite(float(v)) for v in values)


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM (data range 1, Gaussian window 11, or the largest odd window that fits)."""
    from pytorch_msssim import ssim as _ssim

    win = min(11, min(x.shape[-2:]) - (1 - min(x.shape[-2:]) % 2))
    return _ssim(x.float(), y.float(), data_range=1.0, size_average=False, win_size=win)
