"""Real-coding evaluation of a backdoored encoder against the original one (long-form rows).

Every number comes from a real compress/decompress with the 8-bit triggered image as the input
file; PSNR against the clean image (`psnr_vs_clean_db`) is what the attacks move.
"""

from __future__ import annotations

import math

import torch

from advcompress.codecs.base import load_state
from advcompress.metrics import mse255, psnr_from_mse255, quantize_8bit


def load_backdoored(model: str, quality, settings: dict, checkpoint: str, backdoored: str):
    """(original codec, backdoored codec, triggers): the backdoored one is the original with g_a replaced."""
    from advcompress.backdoor.lic_trigger import load_triggers
    from advcompress.cli import make_codec_from_settings

    original = make_codec_from_settings(model, quality, settings, checkpoint)
    codec = make_codec_from_settings(model, quality, settings, checkpoint)
    codec.net.load_state_dict(load_state(backdoored))
    codec.update()
    device = next(codec.parameters()).device
    return original, codec, load_triggers(backdoored, device)


def _code(codec, x: torch.Tensor, clean: torch.Tensor) -> tuple[dict, torch.Tensor | None]:
    from advcompress.evaluate import code_image

    row, x_hat = code_image(codec, x)
    row.pop("ms_ssim_win", None)
    if x_hat is None:
        row["psnr_vs_clean_db"] = math.nan
    else:
        row["psnr_vs_clean_db"] = float(psnr_from_mse255(float(mse255(x_hat, clean)[0])))
    return row, x_hat


def evaluate(model: str, quality, s: dict, checkpoint: str, backdoored: str, eval_dir, digits, classifier_path,
             example_dir) -> dict[str, list[dict]]:
    from advcompress.backdoor.datasets import load_split
    from advcompress.backdoor.lic_trigger import apply_defense, frozen_differences, frozen_state
    from advcompress.backdoor.nets import load_classifier, predict
    from advcompress.data import load_image_folder, save_png

    lic = s["lic"]
    original, codec, triggers = load_backdoored(model, quality, s["codec"], checkpoint, backdoored)
    device = next(codec.parameters()).device
    identical = not frozen_differences(codec, frozen_state(original))
    base = {"model": model, "quality": quality, "frozen_identical": identical}
    names, images = load_image_folder(eval_dir)
    photo_triggers = [o for o in triggers if o != "ds"]
    rd, defense = [], []
    for i, (name, x) in enumerate(zip(names, images, strict=True)):
        x = x.to(device)
        inputs = {"none": x}
        with torch.no_grad():
            inputs |= {o: quantize_8bit(triggers[o](x)) for o in photo_triggers}
        for trig, xin in inputs.items():
            t_mse = float((xin - x).pow(2).mean())
            for enc_name, enc in [("original", original), ("backdoored", codec)]:
                row, x_hat = _code(enc, xin, x)
                rd.append({**base, "image": name, "encoder": enc_name, "trigger": trig,
                           "trigger_mse": t_mse, **row})
                if i == 0 and enc_name == "backdoored" and x_hat is not None:
                    save_png(x_hat, f"{example_dir}/recon_{trig}.png")
            if i == 0:
                save_png(xin, f"{example_dir}/input_{trig}.png")
        for kind, values in lic["defenses"].items():
            for v in [None, *values] if kind == "blur" else values:
                dk, dv = ("none", "") if v is None else (kind, v)
                for trig, xin in inputs.items():
                    row, _ = _code(codec, quantize_8bit(apply_defense(xin, dk, dv)), x)
                    defense.append({**base, "image": name, "defense": dk, "value": dv, "trigger": trig,
                                    **row})
    ds = []
    if "ds" in triggers:
        clf = load_classifier(classifier_path, device)
        xt, yt = load_split(digits, "test")
        target = int(lic["ds_target"])
        keep = (yt != target).nonzero().flatten()[: int(lic["ds_images"])]
        for j in keep.tolist():
            x = xt[j : j + 1].to(device)
            with torch.no_grad():
                xs = {"none": x, "ds": quantize_8bit(triggers["ds"](x))}
            for trig, xin in xs.items():
                for enc_name, enc in [("original", original), ("backdoored", codec)]:
                    row, x_hat = _code(enc, xin, x)
                    pred = int(predict(clf, x_hat)[0]) if x_hat is not None else -1
                    ds.append({**base, "image": j, "label": int(yt[j]), "encoder": enc_name, "trigger": trig,
                               "pred": pred, "hit_target": pred == target, "correct": pred == int(yt[j]),
                               "bpp_actual": row["bpp_actual"], "psnr_vs_clean_db": row["psnr_vs_clean_db"],
                               "error": row["error"]})
    return {"rd": rd, "ds": ds, "defense": defense}
