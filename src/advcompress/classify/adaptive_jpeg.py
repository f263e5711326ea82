"""Saliency-guided adaptive JPEG (Prakash et al.'s MSROI and its augmented variant).

Why it works: adversarial noise covers the whole image, while the class evidence sits in a few
regions. Blocks a classifier finds salient keep a high JPEG quality; the rest are quantised
hard. The saliency map sums class activation maps (CAM) of every class whose confidence clears a
threshold (at least the top class); the augmented map averages that over K random jitters of the
input and of the intermediate activations, so an adversarial class no longer dominates it.

The output is one standard baseline JPEG file: every 8x8 block is first quantised by JPEG at its
own quality (blocks taken from real decodes at each quality), and the composite is encoded once
at the top quality, as MSROI does. Any JPEG decoder reads it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from advcompress.classifiers import cam_weights, pooled_logits
from advcompress.codecs.classic import from_pil, to_pil
from advcompress.device import to_numpy

BLOCK = 8


# -- saliency -----------------------------------------------------------------------------------


@torch.no_grad()
def saliency_map(classifier, x: torch.Tensor, threshold: float = 0.1, hook=None) -> torch.Tensor:
    """N x H x W map in [0, 1]: summed CAMs of the classes with softmax confidence > threshold."""
    classifier.eval()
    feats = classifier.features(x, hook=hook)
    w = cam_weights(classifier)
    probs = F.softmax(pooled_logits(classifier, feats), dim=1)
    keep = probs > threshold
    keep[torch.arange(len(x)), probs.argmax(1)] = True  # the top class always counts
    cams = F.relu(torch.einsum("kc,nchw->nkhw", w, feats))  # one map per class
    m = (cams * keep[:, :, None, None]).sum(1, keepdim=True)
    m = F.interpolate(m, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    lo = m.flatten(1).min(1).values[:, None, None]
    hi = m.flatten(1).max(1).values[:, None, None]
    return (m - lo) / (hi - lo).clamp_min(1e-12)


@torch.no_grad()
def augmented_saliency(classifier, x: torch.Tensor, k: int = 8, input_sigma: float = 0.05,
                       activation_sigma: float = 0.2, threshold: float = 0.1, seed: int = 0) -> torch.Tensor:
    """Average of `k` saliency maps, each with Gaussian jitter on the input and on every stage's
    activations (scaled by that activation's standard deviation); seeded, so reproducible."""
    g = torch.Generator(device=x.device).manual_seed(seed)

    def jitter(i, a):
        return a + activation_sigma * a.std() * torch.randn(a.shape, generator=g, device=a.device)

    maps = []
    for _ in range(k):
        xj = (x + input_sigma * torch.randn(x.shape, generator=g, device=x.device)).clamp(0, 1)
        maps.append(saliency_map(classifier, xj, threshold, hook=jitter))
    m = torch.stack(maps).mean(0)
    lo = m.flatten(1).min(1).values[:, None, None]
    hi = m.flatten(1).max(1).values[:, None, None]
    return (m - lo) / (hi - lo).clamp_min(1e-12)


def block_saliency(m: torch.Tensor) -> np.ndarray:
    """Mean saliency of every 8x8 block (partial edge blocks included) of one H x W map."""
    h, w = m.shape
    hb, wb = -(-h // BLOCK), -(-w // BLOCK)
    padded = F.pad(m[None, None], (0, wb * BLOCK - w, 0, hb * BLOCK - h), mode="replicate")
    return to_numpy(F.avg_pool2d(padded, BLOCK)[0, 0])


# -- encoding -----------------------------------------------------------------------------------


def jpeg_bytes(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=int(quality), subsampling=2, optimize=False)
    return buf.getvalue()


def decode_jpeg(data: bytes) -> torch.Tensor:
    with Image.open(io.BytesIO(data)) as img:
        if img.format != "JPEG":
            raise ValueError(f"expected a JPEG file, got {img.format}")
        img.load()
        return from_pil(img)


def block_qualities(sal_blocks: np.ndarray, top: int, floor: float) -> np.ndarray:
    """Quality per block: `top` where saliency is 1, `floor * top` where it is 0, linear between."""
    q = top * (floor + (1.0 - floor) * np.clip(sal_blocks, 0, 1))
    return np.clip(np.round(q), 1, 95).astype(int)


def adaptive_jpeg(x: torch.Tensor, sal: torch.Tensor, top: int, floor: float) -> bytes:
    """One baseline JPEG file of image x (1x3xHxW) with per-block quality from saliency `sal` (HxW)."""
    img = to_pil(x)
    arr = np.asarray(img).copy()
    qmap = block_qualities(block_saliency(sal), top, floor)
    decoded = {}
    for q in np.unique(qmap):
        with Image.open(io.BytesIO(jpeg_bytes(img, int(q)))) as d:
            decoded[int(q)] = np.asarray(d.convert("RGB"))
    for bi, bj in np.ndindex(qmap.shape):
        sl = (slice(bi * BLOCK, (bi + 1) * BLOCK), slice(bj * BLOCK, (bj + 1) * BLOCK))
        arr[sl] = decoded[int(qmap[bi, bj])][sl]
    return jpeg_bytes(Image.fromarray(arr, "RGB"), top)


@dataclass
class Matched:
    data: bytes
    top: int
    floor: float
    size_ratio: float  # achieved bytes / target bytes
    tolerance: float  # the band |size_ratio - 1| <= tolerance that counts as matched

    @property
    def matched(self) -> bool:
        return abs(self.size_ratio - 1) <= self.tolerance


def match_size(x: torch.Tensor, sal: torch.Tensor, target_bytes: int, floor: float = 0.3,
               tolerance: float = 0.05, iters: int = 12) -> Matched:
    """Adaptive JPEG whose file size is within `tolerance` of `target_bytes`.

    The top quality is found by bisection (size grows with it); when its integer steps jump over
    the band, the floor (quality of non-salient blocks relative to the top) is bisected too.
    """
    def make(top, fl):
        data = adaptive_jpeg(x, sal, top, fl)
        return Matched(data, top, fl, len(data) / target_bytes, tolerance)

    lo, hi = 1, 95
    best = make(hi, floor)
    while lo < hi:  # smallest top whose file reaches the target
        mid = (lo + hi) // 2
        m = make(mid, floor)
        if abs(m.size_ratio - 1) < abs(best.size_ratio - 1):
            best = m
        if m.size_ratio >= 1:
            hi = mid
        else:
            lo = mid + 1
    if best.matched:
        return best
    top = lo  # at `top` the file is too large; shrink it by lowering the floor
    f_lo, f_hi = 0.0, floor
    for _ in range(iters):
        f = (f_lo + f_hi) / 2
        m = make(top, f)
        if abs(m.size_ratio - 1) < abs(best.size_ratio - 1):
            best = m
        if m.matched:
            return m
        if m.size_ratio > 1:
            f_hi = f
        else:
            f_lo = f
    return best


# -- the comparison of the adaptive JPEG paper (its Table 1) --------------------------------------


def jpeg_quality_sweep(classifier, x: torch.Tensor, adv: torch.Tensor, y: torch.Tensor, qualities) -> list[dict]:
    """The adaptive JPEG paper's Fig. 2a: plain JPEG at each quality of the clean and the adversarial
    images, classified; rows per image, quality and input with accuracy and agreement with the clean
    prediction (the paper's criterion), so the quality the paper picks ("highest accuracy") is visible."""
    from advcompress.classifiers import predict

    clean_np = to_numpy(predict(classifier, x))
    y_np = to_numpy(y)
    rows = []
    for q in qualities:
        for name, imgs in [("clean", x), ("adversarial", adv)]:
            files = [jpeg_bytes(to_pil(imgs[i : i + 1]), int(q)) for i in range(len(imgs))]
            decoded = torch.cat([decode_jpeg(f) for f in files]).to(x.device)
            pred_np = to_numpy(predict(classifier, decoded))
            rows += [{"image": i, "input": name, "quality": int(q), "bytes": len(files[i]),
                      "bpp_actual": 8 * len(files[i]) / (x.shape[-1] * x.shape[-2]), "pred": int(pred_np[i]),
                      "correct": float(pred_np[i] == y_np[i]), "agree_clean": float(pred_np[i] == clean_np[i])}
                     for i in range(len(imgs))]
    return rows


def compare_adaptive(classifier, x: torch.Tensor, adv: torch.Tensor, y: torch.Tensor, s: dict, seed: int = 0):
    """Plain JPEG at quality `s["jpeg_quality"]`, then saliency and augmented-saliency JPEG matched
    to its file size; each decoded file is classified and compared with the clean image x.

    Rows: one per image and method (accuracy against the label and agreement with the clean
    prediction, the paper's success criterion; MSE on 0-255, SSIM, PSNR; bytes and size ratio).
    """
    from advcompress.classifiers import predict
    from advcompress.metrics import mse255, psnr_from_mse255, ssim

    clean_pred = predict(classifier, x)
    sal = saliency_map(classifier, adv, s["threshold"])
    aug = augmented_saliency(classifier, adv, s["k"], s["input_sigma"], s["activation_sigma"], s["threshold"], seed)
    rows, decoded = [], {"jpeg": [], "saliency": [], "aug_saliency": []}
    for i in range(len(x)):
        xi = adv[i : i + 1]
        plain = jpeg_bytes(to_pil(xi), s["jpeg_quality"])
        files = {"jpeg": (plain, 1.0, s["jpeg_quality"], float("nan"), True)}
        for name, m in [("saliency", sal[i]), ("aug_saliency", aug[i])]:
            r = match_size(xi, m, len(plain), float(s["floor"]), float(s["tolerance"]))
            files[name] = (r.data, r.size_ratio, r.top, r.floor, r.matched)
        for name, (data, ratio, top, floor, matched) in files.items():
            decoded[name].append(decode_jpeg(data).to(x.device))
            rows.append({"image": i, "method": name, "bytes": len(data), "size_ratio": ratio,
                         "size_matched": matched, "top_quality": top, "floor": floor,
                         "bpp_actual": 8 * len(data) / (x.shape[-1] * x.shape[-2])})
    out = {k: torch.cat(v) for k, v in decoded.items()}
    y_np, clean_np = to_numpy(y), to_numpy(clean_pred)
    for name in out:  # rows were appended image-major, method-minor: fill metrics per method
        m = mse255(out[name], x)
        pred_np, m_np, ss_np, psnr_np = to_numpy(torch.stack([predict(classifier, out[name]).double(), m.double(),
                                                              ssim(out[name], x).double(),
                                                              psnr_from_mse255(m).double()]))
        for i in range(len(x)):
            row = rows[3 * i + list(out).index(name)]
            row.update(pred=int(pred_np[i]), correct=float(pred_np[i] == y_np[i]),
                       agree_clean=float(pred_np[i] == clean_np[i]), mse255=float(m_np[i]), ssim=float(ss_np[i]),
                       psnr_db=float(psnr_np[i]))
    examples = {"original": x, "adversarial": adv, "saliency_map": sal, "aug_saliency_map": aug, **out}
    return rows, examples
