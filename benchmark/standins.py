"""Format-exact stand-ins for every download of the paper tier (issue 15, item 1).

The CPU rehearsal of the paper DAG (`benchmark/rehearse_paper.py`) cannot download Kodak, DIV2K,
CIFAR-10, Imagenette, the official codec checkpoints or torchvision's ImageNet weights. These
builders write files in the real on-disk formats, at exactly the paths the paper tier's fetch rules
produce, from images that scikit-image and scikit-learn bundle (resized, cropped, noised) and from
untrained networks. The library reads them through its own loaders, unchanged: the same
`prepare-data` folder layout and manifest, the same CIFAR-10 unpickler, the same `from_state_dict`
and official key maps, the same torchvision `load_state_dict(strict=True)`.

Nothing here is a result: a stand-in only proves that the paper tier's code paths run.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from PIL import Image

# Bundled colour photographs (scikit-image and scikit-learn package data; no download).
PHOTOS = ["astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "motorcycle_right",
          "hubble_deep_field", "retina", "ihc", "china", "flower"]

# What the paper tier's fetch rules write (workflow/rules/data.smk, models.smk, classify.smk).
KODAK_NAMES = [f"kodim{i:02d}.png" for i in range(1, 25)]
CIFAR_NAMES = [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _photos() -> list[np.ndarray]:
    from advcompress.data import bundled_photo_path

    out = []
    for name in PHOTOS:
        with Image.open(bundled_photo_path(name)) as img:
            out.append(np.asarray(img.convert("RGB")))
    return out


def _view(photo: np.ndarray, h: int, w: int, rng: np.random.Generator, noise: float = 4.0) -> Image.Image:
    """A random crop of `photo` resized to h x w, with a little Gaussian noise (so no two coincide)."""
    H, W = photo.shape[:2]
    ch = int(rng.integers(min(H, W) // 3, min(H, W) + 1))
    cw = min(W, int(round(ch * w / h)))
    y, x = int(rng.integers(0, H - ch + 1)), int(rng.integers(0, W - cw + 1))
    img = Image.fromarray(photo[y:y + ch, x:x + cw]).resize((w, h), Image.Resampling.BOX)
    arr = np.asarray(img, dtype=np.float32) + rng.normal(0, noise, (h, w, 3))
    return Image.fromarray(np.clip(arr.round(), 0, 255).astype(np.uint8), "RGB")


class _Python2Pickler(pickle._Pickler):
    """Pickles as Python 2's cPickle wrote CIFAR-10 (protocol 2): byte strings as Python 2 `str`
    (SHORT_BINSTRING/BINSTRING), which `pickle.load(f, encoding="bytes")` reads back as bytes.
    Python 3's protocol 2 spells bytes as `_codecs.encode(...)` calls instead, which the
    library's CIFAR-10 unpickler rightly refuses."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_str(self, obj: bytes):
        import struct

        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str


def _pickle_py2(obj, path: Path) -> None:
    with open(path, "wb") as f:
        _Python2Pickler(f, protocol=2).dump(obj)


def _finish(folder: Path, source: str) -> None:
    """The manifest `prepare-data` writes into every dataset folder (file, size, SHA-256)."""
    from advcompress.data import write_manifest

    write_manifest(folder, {"source": source})


def kodak(out: Path, size: tuple[int, int] = (64, 96), seed: int = 0, n: int = 24) -> Path:
    """data/<tier>/eval: the first `n` of the 24 Kodak file names (kodim01.png ...), RGB PNGs of
    `size` (h, w). The eval folder is read whole, so `n` scales every job that codes it."""
    rng, photos = np.random.default_rng(seed), _photos()
    out.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(KODAK_NAMES[:n]):
        _view(photos[i % len(photos)], *size, rng).save(out / name, format="PNG")
    _finish(out, "stand-in for the Kodak Lossless True Color Image Suite (benchmark/standins.py)")
    return out


def div2k(out: Path, n: int = 8, size: tuple[int, int] = (128, 192), seed: int = 1) -> Path:
    """data/<tier>/train: DIV2K_train_HR.zip extracted, i.e. DIV2K_train_HR/0001.png ..."""
    rng, photos = np.random.default_rng(seed), _photos()
    folder = out / "DIV2K_train_HR"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        _view(photos[i % len(photos)], *size, rng).save(folder / f"{i + 1:04d}.png", format="PNG")
    _finish(out, "stand-in for DIV2K train HR (benchmark/standins.py)")
    return out


def cifar10(out: Path, per_batch: int = 100, seed: int = 2) -> Path:
    """data/<tier>/cifar10: cifar-10-python.tar.gz extracted, i.e. cifar-10-batches-py/ with the
    python-pickle batches (dicts of bytes keys: data uint8 N x 3072, labels, filenames, batch_label)
    and batches.meta. Class c's images are views of bundled photograph c, so the task is learnable."""
    rng, photos = np.random.default_rng(seed), _photos()
    folder = out / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for b, name in enumerate(CIFAR_NAMES):
        labels = [int(c) for c in rng.permutation(np.arange(per_batch) % 10)]
        data = np.stack([np.asarray(_view(photos[c], 32, 32, rng)).transpose(2, 0, 1).reshape(-1) for c in labels])
        batch = {
            b"batch_label": (f"training batch {b + 1} of 5" if b < 5 else "testing batch 1 of 1").encode(),
            b"labels": labels,
            b"data": data.astype(np.uint8),
            b"filenames": [f"standin_{b}_{i}.png".encode() for i in range(per_batch)],
        }
        _pickle_py2(batch, folder / name)
    meta = {b"num_cases_per_batch": per_batch, b"label_names": [c.encode() for c in CIFAR_CLASSES], b"num_vis": 3072}
    _pickle_py2(meta, folder / "batches.meta")
    (folder / "readme.html").write_text("<meta HTTP-EQUIV='REFRESH' content='0; url=https://www.cs.toronto.edu/~kriz/cifar.html'>\n")
    _finish(out, "stand-in for CIFAR-10 python version (benchmark/standins.py)")
    return out


def _wnid_tree(root: Path, wnids: list[str], per_class: int, short: int, rng, photos) -> None:
    for c, wnid in enumerate(wnids):
        (root / wnid).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            _view(photos[c % len(photos)], short, short * 4 // 3, rng).save(
                root / wnid / f"{wnid}_{i:05d}.JPEG", format="JPEG", quality=90)


def imagenette(out: Path, per_class: int = 2, seed: int = 3) -> Path:
    """data/<tier>/imagenette: imagenette2-320.tgz extracted: imagenette2-320/{train,val}/<wnid>/*.JPEG,
    320 px short side, plus its noisy_imagenette.csv."""
    from advcompress.classify.datasets import IMAGENETTE_WNIDS

    rng, photos = np.random.default_rng(seed), _photos()
    root = out / "imagenette2-320"
    for split in ("train", "val"):
        _wnid_tree(root / split, IMAGENETTE_WNIDS, per_class, 320, rng, photos)
    (root / "noisy_imagenette.csv").write_text("path,noisy_labels_0,is_valid\n")
    _finish(out, "stand-in for Imagenette 320 px (benchmark/standins.py)")
    return out


def imagenet_val(out: Path, per_class: int = 1, seed: int = 4) -> Path:
    """The user-supplied ImageNet validation set (classify.nets.resnet50-imagenet.path): 1000 WordNet-id
    folders (sorted = logit order) of JPEGs. Not a fetch output: the user places it."""
    rng, photos = np.random.default_rng(seed), _photos()
    wnids = [f"n{10000000 + 1000 * i:08d}" for i in range(1000)]
    _wnid_tree(out, wnids, per_class, 64, rng, photos)
    return out


# -- official-format checkpoints ------------------------------------------------------------------


def _old_bottleneck(key: str, style: str) -> str:
    """CompressAI 1.2's `entropy_bottleneck.matrices.0` in an older release's spelling."""
    for new, old in (("matrices", "matrix"), ("biases", "bias"), ("factors", "factor")):
        if style == "suffix":  # CompressAI < 1.2 (STF, TCM, ELIC, HiFi-VRIC): _matrix0
            key = key.replace(f"entropy_bottleneck.{new}.", f"entropy_bottleneck._{old}")
        elif style == "list":  # CompressAI 1.0.9 (Song2021): _matrices.0
            key = key.replace(f"entropy_bottleneck.{new}.", f"entropy_bottleneck._{new}.")
    return key


# Rehearsal widths: a CPU step at the official widths is 5-50x these (NOTES.md, "Cost of the
# science"). Their loaders read the widths off the file's tensor shapes (CompressAI's
# from_state_dict, widths_from_state_dict of STF, TCM, ELIC, HiFiC, Song2021, Cai2022), so a
# narrower file in the official key layout loads through the same path.
REHEARSAL_WIDTHS = {
    "bmshj2018-factorized": {"N": 32, "M": 48},
    "bmshj2018-hyperprior": {"N": 32, "M": 48},
    "mbt2018": {"N": 32, "M": 48},
    "mbt2018-mean-vbr": {"N": 32, "M": 48},
    "cheng2020-attn": {"N": 32},
    "cheng2020-anchor": {"N": 32},
    "stf": {"embed_dim": 16, "depths": [2, 2, 2, 2], "num_heads": [1, 2, 4, 8], "window_size": 4,
            "num_slices": 4, "max_support_slices": 2, "cc_hidden": [64, 32], "drop_path_rate": 0.0},
    "tcm": {"N": 32, "M": 96, "config": [2, 2, 2, 2, 2, 2], "head_dim": [16] * 6, "window_size": 4, "Z": 64,
            "hyper_head_dim": 16, "hyper_window": 2, "num_slices": 4, "max_support_slices": 2,
            "atten_inter": 32, "atten_head_dim": 16, "cc_hidden": [64, 32]},
    "elic": {"N": 32, "M": 64, "cc_hidden": [32, 32], "ep_hidden": 64, "res_blocks": 1},
    "hific": {"M": 32, "N": 32, "filters": [8, 16, 24, 32, 48], "res_blocks": 2},
    "song2021": {"N": 32, "M": 32, "prior_nc": 8, "sft_hidden": 16},
    "cai2022": {"N": 32, "M": 32, "enh_nf": 8, "enh_gc": 8, "couplings": 1, "inn_hidden": 16, "iat_hidden": 8},
}


def official_checkpoint(name: str, quality: int | str, widths: dict | None = None) -> dict:
    """An untrained network of `name` at its official widths, as the object its release's file holds:
    the file names, wrapper keys, DataParallel prefixes and old entropy-bottleneck names the loaders
    (`from_state_dict` and the official key maps in advcompress.codecs) are written for. `widths`
    (e.g. REHEARSAL_WIDTHS[name]) narrows the network; the key layout stays the official one."""
    import torch

    from advcompress.codecs.learned import architecture, build_net

    def official_widths(name, q):
        return architecture(name).official_widths(q)

    q = 1 if quality == "vr" else int(quality)
    torch.manual_seed(abs(hash((name, q))) % 2**31)
    if name == "mbt2018-mean-vbr":  # the zoo's file holds the variable-rate entropy bottleneck
        from compressai.models import MeanScaleHyperpriorVbr

        net = MeanScaleHyperpriorVbr(**(widths or official_widths(name, q)), vr_entbttlnck=True)
    else:
        net = build_net(name, q, widths)
    state = {k: v for k, v in net.state_dict().items()}
    if name in ("bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018", "cheng2020-attn",
                "cheng2020-anchor", "mbt2018-mean-vbr"):
        # CompressAI zoo files: a bare state dict, coder tables included (the VBR file's variable-rate
        # bottleneck is not resized by CompressAI's loader, so its file holds them unbuilt)
        if name != "mbt2018-mean-vbr":
            net.update(force=True)
        return dict(net.state_dict())
    if name in ("stf", "tcm", "elic"):  # {"epoch", "state_dict"} saved from nn.DataParallel
        return {"epoch": 0, "state_dict": {"module." + _old_bottleneck(k, "suffix"): v for k, v in state.items()}}
    if name == "song2021":  # QmapCompression snapshot {"itr", "model", "optimizer"}
        return {"itr": 0, "model": {"module." + _old_bottleneck(k, "list"): v for k, v in state.items()}, "optimizer": {}}
    if name == "cai2022":  # HiFi-VRIC snapshot {"itr", "model"} (CompressAI 1.1.8 names)
        return {"itr": 0, "model": {_old_bottleneck(k, "suffix"): v for k, v in state.items()}}
    if name == "hific":  # the port's {"model_state_dict", "args"}: codec + discriminator + LPIPS, no coder state
        from advcompress.codecs.arch import hific

        coder = ("quantiles", "target", "_offset", "_quantized_cdf", "_cdf_length", "bound", "scale_table", "scale_bound")
        model = {"module." + k: v for k, v in state.items()
                 if not k.startswith(hific._DROPPED_PREFIXES) and k.rpartition(".")[2] not in coder}
        model["module.Discriminator.conv1.weight"] = torch.zeros(64, 3, 4, 4)
        model["module.perceptual_loss.net.lin0.model.1.weight"] = torch.zeros(1, 64, 1, 1)
        return {"model_state_dict": model, "args": {"quality": q}}
    raise ValueError(f"no official checkpoint format known for {name!r}")


def codec_checkpoint(path: Path, name: str, quality: int | str, widths: dict | None = None) -> Path:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(official_checkpoint(name, quality, widths), path)
    return path


def torchvision_weights(path: Path, arch: str) -> Path:
    """A torchvision state dict for `arch` (random weights), as `torch.hub` saves resnet50-11ad3fa6.pth."""
    import torch
    import torchvision

    torch.manual_seed(5)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(getattr(torchvision.models, arch)(weights=None).state_dict(), path)
    return path
