"""One place that decides where tensors live, so every GPU-tagged job behaves the same."""

from __future__ import annotations

import logging
import os

import torch

log = logging.getLogger(__name__)


def pick_device(requested: str = "auto") -> torch.device:
    """`auto` takes CUDA when present, else the CPU; an explicit `cuda` without a GPU is an error."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but no CUDA device is visible; set device: auto or cpu")
    device = torch.device(requested)
    log.info("device: %s", device)
    return device


def set_threads(threads: int | None) -> None:
    """Match torch's intra-op threads to the job's Snakemake `threads` so parallel jobs don't oversubscribe."""
    n = threads or int(os.environ.get("OMP_NUM_THREADS", "0")) or None
    if n:
        torch.set_num_threads(max(1, int(n)))


def seed_everything(seed: int) -> torch.Generator:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def to_numpy(t: torch.Tensor):
    """The one way tensors leave for numpy: detached, on the host, in one transfer (call it once
    per batch, never per sample, so a GPU run syncs once)."""
    return t.detach().cpu().numpy()


def to_python(t: torch.Tensor):
    """The one way tensors leave for Python: a number for a 0-dim tensor, else (nested) lists of
    numbers; detached and on the host in one transfer. Stack what a loop produces and call it
    once, rather than once per element (each call on a GPU tensor is a host sync)."""
    return t.detach().cpu().tolist()
