"""Datasets of every tier: bundled offline photographs and digits, and checked downloads.

Every dataset folder holds its files plus `manifest.json` (file, size, SHA-256), so DVC and a
reader can tell exactly what a result was computed on.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from advcompress.device import to_numpy
from advcompress.download import check_file, fetch_url
from advcompress.errors import DataError
from advcompress.io import atomic_path, read_json, sha256_file, write_json

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".webp"}

# Colour photographs that ship inside scikit-image's package data (no pooch download).
SKIMAGE_PHOTOS = {
    "astronaut": "astronaut.png",
    "chelsea": "chelsea.png",
    "coffee": "coffee.png",
    "rocket": "rocket.jpg",
    "motorcycle_left": "motorcycle_left.png",
    "motorcycle_right": "motorcycle_right.png",
    "hubble_deep_field": "hubble_deep_field.jpg",
    "retina": "retina.jpg",
    "ihc": "ihc.png",
}
# The two colour photographs scikit-learn ships (`sklearn.datasets.load_sample_images`).
SKLEARN_PHOTOS = {"china": "china.jpg", "flower": "flower.jpg"}
# Grey-level photographs in scikit-image's package data (read as RGB with equal channels); the
# backdoor study's photo task uses the textured ones beside the colour photographs.
SKIMAGE_GREY = {
    "camera": "camera.png",
    "brick": "brick.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
    "coins": "coins.png",
    "moon": "moon.png",
}


def bundled_photo_path(name: str) -> Path:
    """The file of a photograph bundled with scikit-image or scikit-learn (never downloaded)."""
    if name in SKIMAGE_PHOTOS or name in SKIMAGE_GREY:
        import skimage

        return Path(skimage.__file__).parent / "data" / {**SKIMAGE_PHOTOS, **SKIMAGE_GREY}[name]
    if name in SKLEARN_PHOTOS:
        import sklearn.datasets

        return Path(sklearn.datasets.__file__).parent / "images" / SKLEARN_PHOTOS[name]
    known = sorted({**SKIMAGE_PHOTOS, **SKIMAGE_GREY, **SKLEARN_PHOTOS})
    raise DataError(f"unknown bundled photograph {name!r}; choose from {known}")


# -- manifests ----------------------------------------------------------------------------------


def write_manifest(folder: Path, extra: dict | None = None) -> dict:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json")
    manifest = {
        "files": [
            {"file": p.relative_to(folder).as_posix(), "bytes": p.stat().st_size, "sha256": sha256_file(p)}
            for p in files
        ],
        **(extra or {}),
    }
    write_json(folder / "manifest.json", manifest)
    return manifest


def verify_manifest(folder: Path) -> None:
    """Every file the manifest lists must be present with the recorded SHA-256."""
    mpath = folder / "manifest.json"
    if not mpath.exists():
        return
    for entry in read_json(mpath)["files"]:
        path = folder / entry["file"]
        if not path.exists():
            raise DataError(f"{path}: listed in {mpath} but missing; run `dvc pull` or refetch")
        if sha256_file(path) != entry["sha256"]:
            raise DataError(f"{path}: SHA-256 differs from {mpath}; the file is corrupt or was replaced")


# -- images -------------------------------------------------------------------------------------


def read_image(path: Path, as_uint8: bool = False) -> torch.Tensor:
    """1x3xHxW float in [0, 1] (or its 8-bit codes with `as_uint8`, a quarter of the memory);
    an unreadable file is a DataError naming it."""
    try:
        with Image.open(path) as img:
            img.load()
            arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{path}: cannot be read as an image ({type(e).__name__}: {e})") from None
    x = torch.from_numpy(arr.copy()).permute(2, 0, 1).unsqueeze(0).contiguous()
    return x if as_uint8 else to_unit_float(x)


def to_unit_float(x: torch.Tensor) -> torch.Tensor:
    """8-bit codes -> float in [0, 1], the same values `read_image` gives (a float tensor passes)."""
    return x.float() / 255.0 if x.dtype == torch.uint8 else x


def save_png(x: torch.Tensor, path) -> None:
    arr = to_numpy((x.detach()[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0))
    with atomic_path(path) as tmp:
        Image.fromarray(arr, "RGB").save(tmp, format="PNG")


def image_files(folder) -> list[Path]:
    """The images of `folder`, or of its one subfolder when it holds nothing else: an archive
    extracted as is, e.g. DIV2K_train_HR.zip -> <folder>/DIV2K_train_HR/0001.png ..."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: dataset folder does not exist; run its fetch_dataset rule")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    subdirs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if not files and len(subdirs) == 1:
        files = sorted(p for p in subdirs[0].iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"{folder}: holds no images")
    return files


def load_image_folder(folder, limit: int | None = None, as_uint8: bool = False) -> tuple[list[str], list[torch.Tensor]]:
    """(names, images) of every image in `folder`, checked against its manifest. Training sets are
    held as 8-bit codes (`as_uint8`): DIV2K's 800 images are 6.7 GB so, 27 GB as float."""
    folder = Path(folder)
    verify_manifest(folder)
    files = image_files(folder)[:limit]
    return [p.stem for p in files], [read_image(p, as_uint8) for p in files]


def resize_and_crop(img: Image.Image, short_side: int | None, crop: int | None) -> Image.Image:
    """Downscale (area filter, which also removes compression artefacts) then centre-crop."""
    if short_side:
        w, h = img.size
        s = short_side / min(w, h)
        if s < 1:
            img = img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.BOX)
    if crop:
        w, h = img.size
        if min(w, h) < crop:
            raise DataError(f"image of size {w}x{h} is smaller than the crop {crop}")
        left, top = (w - crop) // 2, (h - crop) // 2
        img = img.crop((left, top, left + crop, top + crop))
    return img


def centre_tiles(img: Image.Image, crop: int, tiles: int) -> list[Image.Image]:
    """`tiles` non-overlapping crop x crop tiles side by side along the long axis, centred.

    More evaluation samples from the few bundled photographs without reusing a pixel; one tile is
    the plain centre crop.
    """
    w, h = img.size
    along_x = w >= h
    need = crop * tiles
    if min(w, h) < crop or (w if along_x else h) < need:
        raise DataError(f"image of size {w}x{h} holds no {tiles} tiles of {crop}x{crop}")
    start = ((w if along_x else h) - need) // 2
    cross = ((h if along_x else w) - crop) // 2
    boxes = [(start + i * crop, cross) if along_x else (cross, start + i * crop) for i in range(tiles)]
    return [img.crop((x, y, x + crop, y + crop)) for x, y in boxes]


def prepare_skimage_photos(out_dir, names: list[str], short_side: int | None, crop: int | None,
                           tiles: int = 1) -> dict:
    """Write the named bundled photographs as PNGs (RGB, downscaled, centre crop or tiles).

    With `tiles` > 1 each photograph gives that many disjoint crops, named `<photo>_<i>`.
    """
    out_dir = Path(out_dir)
    paths = {name: bundled_photo_path(name) for name in names}
    if tiles > 1 and not crop:
        raise DataError("tiles > 1 needs a crop size")
    with _staging(out_dir) as stage:
        for name, path in paths.items():
            with Image.open(path) as img:
                img = resize_and_crop(img.convert("RGB"), short_side, None if tiles > 1 else crop)
                if tiles > 1:
                    for i, tile in enumerate(centre_tiles(img, crop, tiles)):
                        tile.save(stage / f"{name}_{i}.png", format="PNG")
                else:
                    img.save(stage / f"{name}.png", format="PNG")
        return write_manifest(stage, {"source": "scikit-image and scikit-learn package data",
                                      "short_side": short_side, "crop": crop, "tiles": tiles})


def prepare_digits(out_dir, size: int, test_fraction: float, seed: int) -> dict:
    """scikit-learn's 8x8 digits as RGB uint8 images at `size`, with a seeded stratified split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = torch.from_numpy(digits.images.astype(np.float32) / 16.0).unsqueeze(1)
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    x = to_numpy((x.clamp(0, 1).repeat(1, 3, 1, 1) * 255).round().to(torch.uint8))
    y = digits.target.astype(np.int64)
    idx_tr, idx_te = train_test_split(
        np.arange(len(y)), test_size=test_fraction, random_state=seed, stratify=y
    )
    out_dir = Path(out_dir)
    with _staging(out_dir) as stage:
        np.savez_compressed(
            stage / "digits.npz", x_train=x[idx_tr], y_train=y[idx_tr], x_test=x[idx_te], y_test=y[idx_te]
        )
        return write_manifest(stage, {"source": "sklearn.datasets.load_digits", "size": size, "seed": seed})


def load_digits_split(folder, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(images Nx3xHxW float in [0, 1], labels) of the `train` or `test` split."""
    folder = Path(folder)
    verify_manifest(folder)
    with np.load(folder / "digits.npz") as z:
        x = torch.from_numpy(z[f"x_{split}"]).float() / 255.0
        y = torch.from_numpy(z[f"y_{split}"])
    return x, y


class _staging:
    """Build a dataset folder beside its target and swap it in whole, so no half folder remains."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.stage = self.out_dir.with_name(f".{self.out_dir.name}.part")

    def __enter__(self) -> Path:
        shutil.rmtree(self.stage, ignore_errors=True)
        self.stage.mkdir(parents=True)
        return self.stage

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            shutil.rmtree(self.out_dir, ignore_errors=True)
            os.replace(self.stage, self.out_dir)
        else:
            shutil.rmtree(self.stage, ignore_errors=True)
        return False


# -- downloads (paper tier) -----------------------------------------------------------------------


def fetch_dataset(out_dir, spec: dict, cache_dir) -> dict:
    """Paper-tier dataset from `spec`: `files` ({name: {url, checksum}}) or one `archive`."""
    out_dir, cache_dir = Path(out_dir), Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _staging(out_dir) as stage:
        if "files" in spec:
            for name, f in spec["files"].items():
                got = fetch_url(f["url"], cache_dir / name, f.get("checksum"), spec.get("retries", 3))
                shutil.copy2(got, stage / name)
        elif "archive" in spec:
            a = spec["archive"]
            got = fetch_url(a["url"], cache_dir / Path(a["url"]).name, a.get("checksum"), spec.get("retries", 3))
            _extract(got, stage)
        else:
            raise DataError("a fetched dataset needs `files` or `archive`")
        _check_recorded(out_dir, stage)
        return write_manifest(stage, {"source": spec.get("description", "download")})


def _check_recorded(out_dir: Path, stage: Path) -> None:
    """Without a published checksum, the manifest recorded on first fetch (DVC-tracked) pins it."""
    old = out_dir / "manifest.json"
    if not old.exists():
        return
    for entry in read_json(old)["files"]:
        p = stage / entry["file"]
        if p.exists():
            check_file(p, f"sha256:{entry['sha256']}", pinned_by=f" (recorded in {old} on first fetch)")


def _extract(archive: Path, stage: Path) -> None:
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as z:
            z.extractall(stage)
    else:
        with tarfile.open(archive) as t:
            t.extractall(stage, filter="data")
