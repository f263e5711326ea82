"""Classification data of the backdoor study: the bundled digits, patches of the bundled
photographs classified by source photo, or CIFAR-10 (paper).

Digits have flat black backgrounds, on which a noise trigger survives JPEG; the photo task is a
textured natural-image option that needs no download (issue 14; measured and not the default at
its budget, docs/backdoor.md).
CIFAR-10's python archive stores its batches as pickles; they are read with an unpickler that
admits only the numpy array constructors those files need, so no other object can be built.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from advcompress.data import (
    DataError,
    bundled_photo_path,
    load_digits_split,
    verify_manifest,
    write_manifest,
)

PHOTOS_FILE = "photos.npz"

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise DataError(f"CIFAR-10 batch refers to {module}.{name}; refusing to unpickle it")


def _cifar_batches(folder: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    root = next((p for p in [folder / "cifar-10-batches-py", folder] if (p / "test_batch").exists()), None)
    if root is None:
        raise DataError(f"{folder}: no cifar-10-batches-py/test_batch; run the cifar10 fetch_dataset rule")
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    xs, ys = [], []
    for n in names:
        with open(root / n, "rb") as f:
            batch = _ArraysOnly(f, encoding="bytes").load()
        xs.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        ys.append(np.asarray(batch[b"labels"], dtype=np.int64))
    x = torch.from_numpy(np.concatenate(xs)).float() / 255.0
    return x, torch.from_numpy(np.concatenate(ys))


def load_split(folder, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(images Nx3x32x32 in [0, 1], labels) of `split` ("train" or "test") of the folder's dataset."""
    folder = Path(folder)
    if (folder / "digits.npz").exists():
        return load_digits_split(folder, split)
    verify_manifest(folder)
    if (folder / PHOTOS_FILE).exists():
        with np.load(folder / PHOTOS_FILE) as z:
            return torch.from_numpy(z[f"x_{split}"]).float() / 255.0, torch.from_numpy(z[f"y_{split}"])
    return _cifar_batches(folder, split)


# -- patches of the bundled photographs, labelled by source photo -------------------------------


def _photo(name: str, short_side: int | None) -> np.ndarray:
    """HxWx3 uint8 of a bundled photograph (grey ones repeated to RGB), box-downscaled to `short_side`."""
    from PIL import Image

    from advcompress.data import resize_and_crop

    with Image.open(bundled_photo_path(name)) as img:
        return np.asarray(resize_and_crop(img.convert("RGB"), short_side, None), dtype=np.uint8)


def photo_patches(images: list[str], patch: int, per_photo: int, test_fraction: float, min_std: float,
                  seed: int, short_side: int | None = None) -> dict[str, np.ndarray]:
    """N-way classification of `patch`-square RGB patches by source photograph (label = index in `images`).

    Each photograph is cut into a grid of non-overlapping patch x patch tiles (the grid centred);
    tiles whose pixel standard deviation on [0, 1] is below `min_std` (black borders, empty sky) are
    dropped, as they name no source. A generator seeded by (seed, label) orders the rest; the first
    round(test_fraction * per_photo) are test tiles, the next ones up to `per_photo` training tiles.
    Train and test patches are whole tiles of one grid, so they never share a pixel.
    Returns x_{train,test} (Nx3xPxP uint8), y_{train,test}, box_{train,test} (label, top, left in
    the downscaled photograph) and the photographs' names.
    """
    n_test = round(test_fraction * per_photo)
    if not 0 < n_test < per_photo:
        raise DataError(f"test_fraction {test_fraction} of {per_photo} patches per photo leaves an empty split")
    out = {k: [] for k in ("x_train", "y_train", "box_train", "x_test", "y_test", "box_test")}
    for label, name in enumerate(images):
        arr = _photo(name, short_side)
        h, w = arr.shape[:2]
        rows, cols = h // patch, w // patch
        top0, left0 = (h - rows * patch) // 2, (w - cols * patch) // 2
        tiles = arr[top0 : top0 + rows * patch, left0 : left0 + cols * patch]
        tiles = tiles.reshape(rows, patch, cols, patch, 3).transpose(0, 2, 4, 1, 3).reshape(rows * cols, 3, patch, patch)
        origin = np.stack(np.meshgrid(top0 + patch * np.arange(rows), left0 + patch * np.arange(cols),
                                      indexing="ij"), -1).reshape(-1, 2)
        textured = np.flatnonzero((tiles.astype(np.float32) / 255).std(axis=(1, 2, 3)) >= min_std)
        if len(textured) < per_photo:
            raise DataError(f"photograph {name!r} at short side {short_side} has {len(textured)} tiles of "
                            f"{patch}x{patch} with std >= {min_std}, fewer than per_photo = {per_photo}")
        order = textured[np.random.default_rng([seed, label]).permutation(len(textured))[:per_photo]]
        for split, idx in (("test", order[:n_test]), ("train", order[n_test:])):
            out[f"x_{split}"].append(tiles[idx])
            out[f"y_{split}"].append(np.full(len(idx), label, dtype=np.int64))
            out[f"box_{split}"].append(np.column_stack([np.full(len(idx), label), origin[idx]]).astype(np.int64))
    arrays = {k: np.concatenate(v) for k, v in out.items()}
    return {**arrays, "names": np.array(images)}


def prepare_photo_patches(out_dir, spec: dict, seed: int) -> dict:
    """Write `photos.npz` (photo_patches of the spec: images, patch, per_photo, test_fraction,
    min_std, short_side) and its manifest into `out_dir`, swapped in whole."""
    from advcompress.data import _staging

    keys = ("images", "patch", "per_photo", "test_fraction", "min_std", "short_side")
    arrays = photo_patches(list(spec["images"]), int(spec["patch"]), int(spec["per_photo"]),
                           float(spec["test_fraction"]), float(spec["min_std"]), int(seed),
                           spec.get("short_side"))
    with _staging(Path(out_dir)) as stage:
        np.savez_compressed(stage / PHOTOS_FILE, **arrays)
        return write_manifest(stage, {"source": "bundled photographs, patches by source photo", "seed": seed,
                                      **{k: spec.get(k) for k in keys}})
