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


def _defense_settings(defenses: dict) -> list[tuple[str, object]]:
    """(kind, value) of every configured input-side defense, after ("none", "") for no defense."""
    return [("none", ""), *[(kind, v) for kind, values in defenses.items() for v in values]]


def evaluate(model: str, quality, s: dict, checkpoint: str, backdoored: str, eval_dir, digits, classifier_path,
             example_dir) -> dict[str, list[dict]]:
    """Rows of the rd, ds, defense and amplified tables (see the command's outputs).

    The downstream trigger is also coded on the photos (rd rows): Fig. 10's RD curves of the
    "attacking for good" trigger on the evaluation photos, as the paper's on Kodak. The amplified
    rows code each photo trigger times `amplify.factor` after each of `amplify.defenses`.
    """
    from advcompress.backdoor.lic_trigger import apply_defense, frozen_differences, frozen_state
    from advcompress.data import load_image_folder, save_png

    lic = s["lic"]
    original, codec, triggers = load_backdoored(model, quality, s["codec"], checkpoint, backdoored)
    device = next(codec.parameters()).device
    identical = not frozen_differences(codec, frozen_state(original))
    # The trigger kind names the method: frequency (Yu et al.) or lira (the LIRA baseline).
    method = next(iter(triggers.values())).config.get("kind", "frequency")
    base = {"model": model, "quality": quality, "method": method, "frozen_identical": identical}
    names, images = load_image_folder(eval_dir)
    photo_triggers = [o for o in triggers if o != "ds"]
    amp = lic.get("amplify")
    rd, defense, amplified = [], [], []
    for i, (name, x) in enumerate(zip(names, images, strict=True)):
        x = x.to(device)
        inputs = {"none": x}
        with torch.no_grad():
            inputs |= {o: quantize_8bit(triggers[o](x)) for o in triggers}
            strong = {o: quantize_8bit(triggers[o].amplified(x, float(amp["factor"]))) for o in photo_triggers} \
                if amp else {}
        t_mse = {trig: float((xin - x).pow(2).mean()) for trig, xin in inputs.items()}
        strong_mse = {trig: float((xin - x).pow(2).mean()) for trig, xin in strong.items()}
        for trig, xin in inputs.items():
            for enc_name, enc in [("original", original), ("backdoored", codec)]:
                row, x_hat = _code(enc, xin, x)
                rd.append({**base, "image": name, "encoder": enc_name, "trigger": trig,
                           "trigger_mse": t_mse[trig], **row})
                if i == 0 and enc_name == "backdoored" and x_hat is not None:
                    save_png(x_hat, f"{example_dir}/recon_{trig}.png")
            if i == 0:
                save_png(xin, f"{example_dir}/input_{trig}.png")
        for dk, dv in _defense_settings(lic["defenses"]):
            for trig in ["none", *photo_triggers]:
                row, _ = _code(codec, quantize_8bit(apply_defense(inputs[trig], dk, dv)), x)
                defense.append({**base, "image": name, "defense": dk, "value": dv, "trigger": trig,
                                "trigger_mse": t_mse[trig], **row})
        for dk, dv in _defense_settings(amp["defenses"]) if amp else []:
            for trig, xin in strong.items():
                row, _ = _code(codec, quantize_8bit(apply_defense(xin, dk, dv)), x)
                amplified.append({**base, "image": name, "defense": dk, "value": dv, "trigger": trig,
                                  "amplify": float(amp["factor"]), "trigger_mse": strong_mse[trig], **row})
    ds = []
    if "ds" in triggers:
        ds = _ds_rows(base, original, codec, triggers["ds"], digits, classifier_path, int(lic["ds_target"]),
                      lic.get("ds_images"), device)
    return {"rd": rd, "ds": ds, "defense": defense, "amplified": amplified}


def _ds_rows(base: dict, original, codec, trigger, digits, classifier_path, target: int, n_images, device,
             batch_size: int = 64) -> list[dict]:
    """Downstream-classifier rows: every test digit (or the first `n_images`; None = the whole split),
    clean and ds-triggered, through both encoders by real coding, batched (one bitstream per image).

    `hit_target` is NaN for digits of the target class, so the ASR rests on the others while the
    accuracy rests on all.
    """
    from advcompress.backdoor.datasets import load_split
    from advcompress.classifiers import load_classifier, predict
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
            x_hat, coded, failed = _code_all(enc, xin, batch_size)
            pred = predict(clf, x_hat).masked_fill(failed, -1)
            pred_np, psnr_np = to_numpy(torch.stack([pred.double(), psnr_from_mse255(mse255(x_hat, xt)).double()]))
            for j, (bpp, err) in enumerate(coded):
                p, label = int(pred_np[j]), int(y_np[j])
                rows.append({**base, "image": j, "label": label, "encoder": enc_name, "trigger": trig, "pred": p,
                             "hit_target": math.nan if label == target else float(p == target),
                             "correct": p == label, "bpp_actual": bpp,
                             "psnr_vs_clean_db": math.nan if err else float(psnr_np[j]), "error": err})
    return rows


def _code_all(enc, x: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, list[tuple[float, str]], torch.Tensor]:
    """(decoded images, (bpp, error) of each, failed mask): real coding in batches, one bitstream per image."""
    from advcompress.classify.defenses import code_batch

    parts = [code_batch(enc, x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    x_hat = torch.cat([p[0] for p in parts])
    coded = [c for p in parts for c in p[1]]
    return x_hat, coded, torch.tensor([bool(err) for _, err in coded], device=x_hat.device)


def seg_rows(base: dict, original, codec, trigger, images: torch.Tensor, labels: torch.Tensor, segmenter,
             source: int, target: int, batch_size: int = 32) -> list[dict]:
    """Table 1 stand-in rows (backdoor.segmentation): every test mosaic, clean and triggered, through
    both encoders by real coding. Per image: pixel-wise ASR counts (source pixels read as `target`),
    accuracy of the other pixels, rate, PSNR against the clean mosaic, and the MSE between the
    decoded clean mosaic and the decoded triggered one of the same encoder (the paper's "MSE between
    clean outputs and attacked outputs", on [0, 1])."""
    from advcompress.backdoor.segmentation import pixel_asr
    from advcompress.device import to_numpy

    with torch.no_grad():
        inputs = {"none": images, "seg": quantize_8bit(trigger(images))}
    other = labels != source
    rows = []
    for enc_name, enc in [("original", original), ("backdoored", codec)]:
        decoded = {}
        for trig, xin in inputs.items():
            x_hat, coded, _ = _code_all(enc, xin, batch_size)
            decoded[trig] = x_hat
            with torch.no_grad():
                pred = torch.cat([segmenter(torch.nan_to_num(x_hat[i : i + batch_size])).argmax(1)
                                  for i in range(0, len(x_hat), batch_size)])
            hits, n_src = pixel_asr(pred, labels, source, target)
            kept = ((pred == labels) & other).flatten(1).sum(1) / other.flatten(1).sum(1).clamp_min(1)
            out_mse = (x_hat - decoded["none"]).pow(2).flatten(1).mean(1)
            cols = to_numpy(torch.stack([hits.double(), n_src.double(), kept.double(), out_mse.double(),
                                         psnr_from_mse255(mse255(x_hat, images)).double()]))
            for j, (bpp, err) in enumerate(coded):
                rows.append({**base, "image": j, "encoder": enc_name, "trigger": trig,
                             "asr_hits": int(cols[0, j]), "source_pixels": int(cols[1, j]),
                             "pixel_asr": float(cols[0, j] / cols[1, j]) if not err else math.nan,
                             "other_accuracy": math.nan if err else float(cols[2, j]),
                             "output_mse": math.nan if err else float(cols[3, j]), "bpp_actual": bpp,
                             "psnr_vs_clean_db": math.nan if err else float(cols[4, j]), "error": err})
    return rows

