"""Real coding of images: the rows every clean-compression table and figure is drawn from."""

from __future__ import annotations

import logging
import math
import time

import torch

from advcompress.codecs import Codec
from advcompress.metrics import ms_ssim, mse255, psnr_from_mse255

log = logging.getLogger(__name__)


def code_image(codec: Codec, x: torch.Tensor, forward: dict | None = None) -> tuple[dict, torch.Tensor | None]:
    """One image through the real encoder and decoder; failures become a row, not an exception.

    The estimated rate comes from the entropy model in eval mode (real rounding), from `forward`
    when the caller has already run `codec.forward(x)` (the attack's assessment maps its rate from
    the same pass); the actual rate from the bytes. An entropy-coder failure on an extreme latent
    is recorded in `error`.
    """
    h, w = x.shape[-2:]
    row = {"bpp_est": math.nan, "bpp_actual": math.nan, "mse255": math.nan, "psnr_db": math.nan,
           "ms_ssim": math.nan, "encode_s": math.nan, "decode_s": math.nan, "error": ""}
    if codec.differentiable:
        from advcompress.codecs.learned import estimated_bpp

        with torch.no_grad():
            row["bpp_est"] = float(estimated_bpp(forward if forward is not None else codec.forward(x), h * w)[0])
    try:
        t0 = time.perf_counter()
        bs = codec.compress(x)
        t1 = time.perf_counter()
        x_hat = codec.decompress(bs)
        t2 = time.perf_counter()
    except Exception as e:  # the entropy coder can fail on out-of-range symbols
        log.warning("%s: coding failed: %s", codec.label, e)
        row["error"] = f"{type(e).__name__}: {e}"[:200]
        return row, None
    d = float(mse255(x_hat, x)[0])
    ssim, win = ms_ssim(x_hat.clamp(0, 1), x)
    row.update(
        bpp_actual=bs.bpp(),
        mse255=d,
        psnr_db=float(psnr_from_mse255(d)) if math.isfinite(d) else math.nan,
        ms_ssim=float(ssim[0]),
        ms_ssim_win=win,
        encode_s=t1 - t0,
        decode_s=t2 - t1,
    )
    return row, x_hat


def invalid(row: dict, keys=("bpp_actual", "mse255")) -> bool:
    """NaN/inf rates or distortions, or a coding error: counted, never averaged silently."""
    return bool(row.get("error")) or not all(math.isfinite(float(row[k])) for k in keys)
