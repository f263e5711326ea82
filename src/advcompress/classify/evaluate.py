"""Attack a classifier, defend by real compression, and record one row per image and setting.

Why both predictions per row: CW and DeepFool are reported as accuracy at an L2 threshold, where
an image whose perturbation exceeds the threshold counts with its clean (defended) prediction.
"""

from __future__ import annotations

import math
import time

import torch

from advcompress.classifiers import predict
from advcompress.classify.attacks import get_attack, run_attack
from advcompress.classify.defenses import Defense, through_model
from advcompress.device import to_numpy
from advcompress.metrics import quantize_8bit


def attack_rows(classifier, defense: Defense, attack: str, x, y, eps_255: list[float], throughs: list[bool],
                settings: dict | None = None, batch_size: int = 64, meta: dict | None = None,
                precomputed: dict | None = None, attack_batch_size: int | None = None) -> list[dict]:
    """Every (through, eps) of one attack against one defense; reported through the real codec.

    `precomputed` maps str(eps) to through = false adversarial images (they do not depend on the
    defense, so the workflow computes them once per attack). `attack_batch_size` images go through
    the attack at a time (default `batch_size`): the memory of a gradient through N codec rounds
    grows with it, and the attacks treat images independently, so the images do not change.
    """
    classifier.eval()
    x8 = quantize_8bit(x)
    clean_def, clean_info = defense.apply(x8, batch_size)
    clean_pred = predict(classifier, clean_def)
    y_np, clean_np = to_numpy(y), to_numpy(clean_pred)  # once per job: no per-sample host syncs
    norm = get_attack(attack).norm
    eps_list = eps_255 if norm == "linf" else [math.nan]
    rows = []
    for through in throughs:
        if through and defense.is_identity:
            continue
        model = through_model(defense, classifier) if through else classifier
        for eps in eps_list:
            t0 = time.perf_counter()
            if norm == "linf" and eps == 0:  # no perturbation: the clean image, already defended
                adv, x_def, infos, pred = x8, clean_def, clean_info, clean_pred
            else:
                if not through and precomputed is not None and str(eps) in precomputed:
                    adv = precomputed[str(eps)].to(x.device)
                else:
                    adv = run_attack(attack, model, x, y, 0.0 if norm == "l2" else eps / 255, settings,
                                     attack_batch_size or batch_size)
                adv = quantize_8bit(adv)  # an image file holds 8 bits: what a defense receives
            attack_s = time.perf_counter() - t0
            if not (norm == "linf" and eps == 0):
                x_def, infos = defense.apply(adv, batch_size)
                pred = predict(classifier, x_def)
            delta = (adv - x).flatten(1)
            cols = to_numpy(torch.stack([pred.double(), delta.norm(dim=1).double(),
                                         delta.abs().amax(1).double() * 255]))
            pred_np, l2_np, linf_np = cols[0].astype(int), cols[1], cols[2]
            for i in range(len(x)):
                err = infos[i]["error"]
                rows.append({
                    **(meta or {}),
                    "attack": attack,
                    "defense": defense.spec,
                    "through": bool(through),
                    "eps_255": eps,
                    "image": i,
                    "label": int(y_np[i]),
                    "pred": int(pred_np[i]),
                    "correct": math.nan if err else float(pred_np[i] == y_np[i]),
                    "pred_clean": int(clean_np[i]),
                    "correct_clean": math.nan if clean_info[i]["error"] else float(clean_np[i] == y_np[i]),
                    "l2_pixel": float(l2_np[i]),
                    "linf_255": float(linf_np[i]),
                    "bpp_actual": infos[i]["bpp_actual"],
                    "attack_s_per_image": attack_s / len(x),
                    "error": err,
                })
    return rows


def accuracy_at_l2(df, thresholds: list[float]):
    """Accuracy when only perturbations with L2 <= t count (others fall back to the clean image)."""
    import pandas as pd

    out = []
    for t in thresholds:
        within = df["l2_pixel"] <= t
        c = df["correct"].where(within, df["correct_clean"])
        out.append(df.assign(l2_threshold=t, correct_at=c))
    return pd.concat(out, ignore_index=True)


@torch.no_grad()
def time_defense(classifier, defense: Defense, x: torch.Tensor, repeats: int = 1) -> dict:
    """Wall time per image of defense (real coding) + classification, one image at a time."""
    classifier.eval()
    n = len(x)
    t_def = t_clf = 0.0
    for _ in range(repeats):
        for i in range(n):
            xi = x[i : i + 1]
            t0 = time.perf_counter()
            xd, _ = defense.apply_one(xi)
            t1 = time.perf_counter()
            classifier(xd)
            t2 = time.perf_counter()
            t_def += t1 - t0
            t_clf += t2 - t1
    k = n * repeats
    return {"defense": defense.spec, "n_images": k, "defense_ms_per_image": 1e3 * t_def / k,
            "classify_ms_per_image": 1e3 * t_clf / k, "total_ms_per_image": 1e3 * (t_def + t_clf) / k}
