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
    from advcompress.codecs import make_codec_from_settings

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
    from advcompress.backdoor.lic_trigger import apply_defense, frozen_differences, frozen_state
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
        ds = _ds_rows(base, original, codec, triggers["ds"], digits, classifier_path, int(lic["ds_target"]),
                      lic.get("ds_images"), device)
    return {"rd": rd, "ds": ds, "defense": defense}


def _ds_rows(base: dict, original, codec, trigger, digits, classifier_path, target: int, n_images, device,
             batch_size: int = 64) -> list[dict]:
    """Downstream-classifier rows: every test digit (or the first `n_images`; None = the whole split),
    clean and ds-triggered, through both encoders by real coding, batched (one bitstream per image).

    `hit_target` is NaN for digits of the target class, so the ASR rests on the others while the
    accuracy rests on all.
    """
    from advcompress.backdoor.datasets import load_split
    from advcompress.classifiers import load_classifier, predict
    from advcompress.classify.defenses import code_batch
    from advcompress.device import to_numpy

    clf = load_classifier(classifier_path, device=device)
    xt, yt = load_split(digits, "test")
    if n_images is not None:
        xt, yt = xt[: int(n_images)], yt[: int(n_images)]
    xt = xt.to(device)
    y_np = to_numpy(yt)
    with torch.no_grad():
        inputs = {"none": xt, "ds": quantize_8bit(trigger(xt))}
    rows = []
    for trig, xin in inputs.items():
        for enc_name, enc in [("original", original), ("backdoored", codec)]:
            parts = [code_batch(enc, xin[i : i + batch_size]) for i in range(0, len(xin), batch_size)]
            x_hat = torch.cat([p[0] for p in parts])
            coded = [c for p in parts for c in p[1]]
            failed = torch.tensor([bool(err) for _, err in coded], device=x_hat.device)
            pred = predict(clf, x_hat).masked_fill(failed, -1)
            pred_np, psnr_np = to_numpy(torch.stack([pred.double(), psnr_from_mse255(mse255(x_hat, xt)).double()]))
            for j, (bpp, err) in enumerate(coded):
                p, label = int(pred_np[j]), int(y_np[j])
                rows.append({**base, "image": j, "label": label, "encoder": enc_name, "trigger": trig, "pred": p,
                             "hit_target": math.nan if label == target else float(p == target),
                             "correct": p == label, "bpp_actual": bpp,
                             "psnr_vs_clean_db": math.nan if err else float(psnr_np[j]), "error": err})
    return rows
