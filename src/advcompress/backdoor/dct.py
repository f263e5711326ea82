"""Block DCT helpers for the frequency trigger: orthonormal DCT-II bases and the middle band."""

from __future__ import annotations

import math

import torch


def dct_matrix(n: int) -> torch.Tensor:
    """Orthonormal DCT-II matrix D (n x n): coefficients of a block b are D b D^T."""
    k = torch.arange(n, dtype=torch.float64).unsqueeze(1)
    i = torch.arange(n, dtype=torch.float64).unsqueeze(0)
    d = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    d[0] /= math.sqrt(2.0)
    return d.float()


def zigzag_order(n: int) -> list[tuple[int, int]]:
    """Frequencies (u, v) from low to high: by u + v, then by u (JPEG's diagonal order)."""
    return sorted(((u, v) for u in range(n) for v in range(n)), key=lambda uv: (uv[0] + uv[1], uv[0]))


def middle_band(block: int, count: int) -> torch.Tensor:
    """The `count` middle frequencies of a block x block DCT, as flat indices u * block + v.

    Low frequencies would be visible, the highest ones are what every codec discards first; the
    paper's trigger lives in between (N = 64 middle frequencies).
    """
    order = zigzag_order(block)
    if count > len(order):
        raise ValueError(f"a {block}x{block} DCT has only {len(order)} frequencies, not {count}")
    start = (len(order) - count) // 2
    return torch.tensor([u * block + v for u, v in order[start : start + count]])


def block_pattern(coeffs: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Spatial block (.., B, B) whose DCT coefficients are `coeffs` (.., B, B): D^T C D."""
    return d.t() @ coeffs @ d


def tile_blocks(block: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Repeat a per-image block pattern (N, C, B, B) over an h x w image (cropping the border)."""
    b = block.shape[-1]
    reps = (math.ceil(h / b), math.ceil(w / b))
    return block.repeat(1, 1, *reps)[..., :h, :w]
