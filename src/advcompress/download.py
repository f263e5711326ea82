"""Checked downloads of the paper tier: torch.hub moves the bytes, one function checks them.

A checksum is `sha256:<hex>` (a full digest, or the leading digits that CompressAI and torchvision
put in their file names, as torch.hub reads them) or `md5:<hex>` (the full digests CIFAR-10 and
Imagenette publish, which torch.hub's SHA-256-only `hash_prefix` cannot check). A download lands
at its path only whole and verified; offline, the error names the URL and where to put the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import sys
import time
import urllib.error
from pathlib import Path

from torch.hub import HASH_REGEX, download_url_to_file

from advcompress.errors import DataError
from advcompress.io import atomic_path

# Shortest SHA-256 prefix accepted as a pin: the 8 hex digits of CompressAI's and torchvision's names.
MIN_PREFIX = 8


def parse_checksum(checksum: str) -> tuple[str, str]:
    """(algorithm, lower-case hex) of 'sha256:<at least 8 hex digits>' or 'md5:<32 hex digits>'."""
    algo, _, want = checksum.partition(":")
    want = want.lower()
    ok = all(c in "0123456789abcdef" for c in want) and (
        (algo == "sha256" and MIN_PREFIX <= len(want) <= 64) or (algo == "md5" and len(want) == 32))
    if not ok:
        raise DataError(f"checksum {checksum!r} must be 'sha256:<{MIN_PREFIX} to 64 hex digits>' or 'md5:<32 hex digits>'")
    return algo, want


def check_file(path, checksum: str | None, pinned_by: str = "") -> None:
    """Raise a DataError unless the file's digest starts with the pinned one (all of it for md5);
    `pinned_by` says where the pin came from, when not from the URL's config entry."""
    if not checksum:
        return
    algo, want = parse_checksum(checksum)
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    if not h.hexdigest().startswith(want):
        raise DataError(f"{path}: {algo} is {h.hexdigest()}, expected {want}{pinned_by}; "
                        "the file is corrupt or not the pinned one")


def name_hash_prefix(url: str) -> str | None:
    """The SHA-256 prefix a published file name pins (`<name>-<hex>.<ext>`), read as torch.hub reads it."""
    m = HASH_REGEX.search(url.rsplit("/", 1)[-1])
    return m.group(1) if m and len(m.group(1)) >= MIN_PREFIX else None


@contextlib.contextmanager
def _socket_timeout(seconds: float):
    """torch.hub opens URLs without a timeout; a stalled server must fail the fetch, not hang it."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def fetch_url(url: str, dest, checksum: str | None = None, retries: int = 3, timeout: float = 60) -> Path:
    """Download `url` to `dest` with torch.hub, retrying, and verify `checksum` before it lands.

    A file already at `dest` is verified instead of downloaded again, so a file placed by hand
    counts as fetched. A download that fails, or does not match, leaves nothing at `dest`.
    """
    dest = Path(dest)
    if checksum:
        parse_checksum(checksum)  # a malformed pin is the config's error, not the network's
    if dest.exists():
        check_file(dest, checksum)
        return dest
    last = None
    for attempt in range(1, retries + 1):
        try:
            with atomic_path(dest) as tmp, _socket_timeout(timeout):
                download_url_to_file(url, str(tmp), progress=sys.stderr.isatty())
                check_file(tmp, checksum)
            return dest
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
            last = e
            if attempt < retries:
                time.sleep(min(2**attempt, 10))
    raise DataError(
        f"cannot download {url} ({getattr(last, 'reason', last)}); "
        f"place the file by hand at {dest}" + (f" (it must match {checksum})" if checksum else "")
    )
