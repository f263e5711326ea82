"""Classification data of the backdoor study: the bundled digits (default, smoke) or CIFAR-10 (paper).

CIFAR-10's python archive stores its batches as pickles; they are read with an unpickler that
admits only the numpy array constructors those files need, so no other object can be built.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from advcompress.data import DataError, load_digits_split, verify_manifest

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
    return _cifar_batches(folder, split)
