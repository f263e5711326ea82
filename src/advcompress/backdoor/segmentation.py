"""Stand-in for the downstream segmentation attack of Yu et al. (Table 1, CarToRoad on Cityscapes).

Cityscapes does not ship offline. The stand-in is a per-block segmentation of mosaics of the
backdoor study's classification images (digits by default): a mosaic is a grid of tiles, every pixel
is labelled with its tile's class, and the segmenter is the study's clean classifier applied to each
tile (`BlockSegmenter`), which gives one logit map per mosaic. CarToRoad becomes "source class to
target class": the attack wants every source-class pixel read as the target class and every other
pixel left alone (`retarget`), and its success is the pixel-wise ASR over source-class pixels
(`pixel_asr`). Every mosaic holds at least one source tile, as nearly every Cityscapes street scene
holds a car. Training mosaics are built from the training split and test mosaics from the test
split, so no test tile was ever seen in training.
"""

from __future__ import annotations

import torch
from torch import nn


def mosaics(x: torch.Tensor, y: torch.Tensor, n: int, grid: int, source: int,
            generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(images n x 3 x grid*s x grid*s, per-pixel labels n x grid*s x grid*s, tile indices n x grid^2).

    Tiles are drawn with replacement from (x, y) (N x 3 x s x s, N); one random position of each
    mosaic gets a tile of class `source`.
    """
    src = (y == source).nonzero().flatten()
    if not len(src):
        raise ValueError(f"no image of the source class {source} to build segmentation mosaics from")
    idx = torch.randint(len(x), (n, grid * grid), generator=generator)
    pos = torch.randint(grid * grid, (n,), generator=generator)
    idx[torch.arange(n), pos] = src[torch.randint(len(src), (n,), generator=generator)]
    s = x.shape[-1]
    tiles = x[idx.flatten()].view(n, grid, grid, 3, s, s)
    images = tiles.permute(0, 3, 1, 4, 2, 5).reshape(n, 3, grid * s, grid * s)
    labels = y[idx].view(n, grid, grid).repeat_interleave(s, 1).repeat_interleave(s, 2)
    return images, labels, idx


def retarget(labels: torch.Tensor, source: int, target: int) -> torch.Tensor:
    """The attack's wanted label map: source-class pixels read as `target`, the others unchanged."""
    return labels.masked_fill(labels == source, target)


def pixel_asr(pred: torch.Tensor, labels: torch.Tensor, source: int, target: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(hits, source pixels) per image: how many source-class pixels the segmenter reads as `target`."""
    src = labels == source
    return (src & (pred == target)).flatten(1).sum(1), src.flatten(1).sum(1)


class BlockSegmenter(nn.Module):
    """A classifier of s x s tiles as a segmenter of mosaics: logits n x C x H x W, every pixel of a
    tile carrying its tile's logits (the labels are constant per tile, so nothing finer is needed)."""

    def __init__(self, classifier: nn.Module, tile: int):
        super().__init__()
        self.classifier, self.tile = classifier, tile

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        s = self.tile
        gh, gw = h // s, w // s
        tiles = x[..., : gh * s, : gw * s].reshape(n, c, gh, s, gw, s).permute(0, 2, 4, 1, 3, 5)
        logits = self.classifier(tiles.reshape(n * gh * gw, c, s, s))
        grid = logits.view(n, gh, gw, -1).permute(0, 3, 1, 2)
        return grid.repeat_interleave(s, 2).repeat_interleave(s, 3)


def split_mosaics(folder, split: str, seg: dict, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The mosaics of one split of the classification data (train: the attack's auxiliary set;
    test: the evaluation), seeded by (seed, split): `mosaics` over that split's images only."""
    from advcompress.backdoor.datasets import load_split

    x, y = load_split(folder, split)
    g = torch.Generator().manual_seed(int(seed) * 2 + (split == "test"))
    n = int(seg["train_mosaics" if split == "train" else "test_mosaics"])
    return mosaics(x, y, n, int(seg["grid"]), int(seg["source"]), g)

