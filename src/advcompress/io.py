"""Atomic file output: a job that dies mid-write leaves the old file or none, never half a file."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_bytes(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path, obj) -> None:
    write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n").encode())


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_json(path):
    return json.loads(Path(path).read_text())


def write_table(path, df) -> None:
    """CSV (long form, one row per image x setting) or Parquet, chosen by suffix."""
    with atomic_path(path) as tmp:
        if str(path).endswith(".parquet"):
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, index=False)


def read_table(path):
    import pandas as pd

    return pd.read_parquet(path) if str(path).endswith(".parquet") else pd.read_csv(path)


def write_text(path, text: str) -> None:
    """A text file, ending in a newline (pandas' `to_markdown` gives none)."""
    write_bytes(path, (text if text.endswith("\n") else text + "\n").encode())


def save_figure(fig, path) -> None:
    suffix = Path(path).suffix.lstrip(".") or "pdf"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=suffix, bbox_inches="tight")


def sha256_file(path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
