"""Evaluation images for the classifier study: digits (default), Imagenette and an ImageNet subset.

All loaders return (images Nx3xHxW in [0, 1], labels) from a seeded, reproducible selection.
"""

from __future__ import annotations

from pathlib import Path

import torch

from advcompress.data import DataError, image_files, load_digits_split
from advcompress.device import to_python

# Imagenette's ten WordNet ids (sorted, as its folders are) and their ImageNet-1k logit indices.
IMAGENETTE_WNIDS = ["n01440764", "n02102040", "n02979186", "n03000684", "n03028079",
                    "n03394916", "n03417042", "n03425413", "n03445777", "n03888605"]
IMAGENETTE_LOGITS = [0, 217, 482, 491, 497, 566, 569, 571, 574, 701]


def seeded_subset(n_total: int, n: int | None, seed: int) -> torch.Tensor:
    """Indices of `n` items drawn without replacement (all of them, in order, when n is None)."""
    if n is None or n >= n_total:
        return torch.arange(n_total)
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(n_total, generator=g)[:n].sort().values


def load_eval_set(kind: str, folder, n: int | None, seed: int, size: int = 224,
                  resize: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """`resize`: the short side before the centre crop, as the classifier's weights were evaluated
    (torchvision: 256 for ResNet-50 V1 and ViT-B/16 V1, 232 for ResNet-50 V2); None: size * 256/224."""
    if kind == "digits":
        x, y = load_digits_split(folder, "test")
        idx = seeded_subset(len(y), n, seed)
        return x[idx], y[idx]
    if kind == "imagenette":
        return _folder_dataset(Path(folder), IMAGENETTE_WNIDS, n, seed, (size, resize), split="val")
    if kind == "imagenet":
        return _imagenet_subset(Path(folder), n, seed, (size, resize))
    raise DataError(f"unknown evaluation set kind {kind!r}; choose digits, imagenette or imagenet")


def _resize_crop(path: Path, size: int, resize: int | None = None) -> torch.Tensor:
    """torchvision's evaluation transform: short side to `resize` (size * 256/224), centre crop `size`."""
    import numpy as np
    from PIL import Image

    from advcompress.data import resize_and_crop

    with Image.open(path) as img:
        img = img.convert("RGB")
        w, h = img.size
        s = (resize or round(size * 256 / 224)) / min(w, h)
        img = img.resize((max(size, round(w * s)), max(size, round(h * s))), Image.Resampling.BILINEAR)
        img = resize_and_crop(img, None, size)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0)


def _folder_dataset(root: Path, wnids: list[str], n, seed, sizes, split: str):
    """`root/<split>/<wnid>/*` (Imagenette's layout, possibly one folder deeper after extraction)."""
    base = next((p for p in [root / split, *root.glob(f"*/{split}")] if p.is_dir()), None)
    if base is None:
        raise DataError(f"{root}: no {split}/ folder with one subfolder per WordNet id")
    files = [(p, i) for i, w in enumerate(wnids) for p in image_files(base / w)]
    idx = seeded_subset(len(files), n, seed)
    xs = [_resize_crop(files[i][0], *sizes) for i in to_python(idx)]
    return torch.cat(xs), torch.tensor([files[i][1] for i in to_python(idx)])


def _imagenet_subset(root: Path, n, seed, sizes):
    """A user-supplied ImageNet validation set as `root/<wnid>/*` (1000 folders, sorted = logits)."""
    if not root.is_dir():
        raise DataError(
            f"{root}: ImageNet is not downloadable here; set classify.datasets.imagenet.path to a folder "
            "of the validation images sorted into one subfolder per WordNet id"
        )
    wnids = sorted(p.name for p in root.iterdir() if p.is_dir())
    if len(wnids) != 1000:
        raise DataError(f"{root}: expected 1000 WordNet-id folders, found {len(wnids)}")
    files = [(p, i) for i, w in enumerate(wnids) for p in image_files(root / w)]
    idx = seeded_subset(len(files), n, seed)
    xs = [_resize_crop(files[i][0], *sizes) for i in to_python(idx)]
    return torch.cat(xs), torch.tensor([files[i][1] for i in to_python(idx)])
