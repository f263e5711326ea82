"""The RD-attack study as functions a job calls: attack one algorithm, assess, aggregate.

`run_attack_job` attacks every configured image under every direction for one codec name and one
registered attack, and re-measures everything by real coding (no proxy). It returns long-form
tables: one row per image x direction x attacked submodel x coding submodel (`rows`), local
success ratios (`local`), per-channel latent ranges (`latents`), the per-step attack log (`steps`)
and the arrays the galleries draw (`gallery`).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
import torch

from advcompress.attack.algorithms import AttackSettings, attack_grid, get_attack
from advcompress.attack.assess import assess_image, channel_ranges, latent_features, success_ratio
from advcompress.device import to_numpy, to_python
from advcompress.metrics import perturbation_norm

log = logging.getLogger(__name__)

CLEAN_KEYS = ("bpp_est", "bpp_actual", "mse255", "psnr_db")


def centre_crop(x: torch.Tensor, crop: int | None) -> torch.Tensor:
    if not crop:
        return x
    h, w = x.shape[-2:]
    if crop > min(h, w):
        raise ValueError(f"attack crop {crop} is larger than the {h}x{w} evaluation image")
    top, left = (h - crop) // 2, (w - crop) // 2
    return x[..., top : top + crop, left : left + crop]


def run_attack_job(
    attack: str,
    model: str,
    codecs: dict,
    names: list[str],
    x: torch.Tensor,
    directions: dict,
    settings: dict,
) -> dict:
    """Attack `x` (N images) for every submodel (`codecs`: quality -> codec) and assess.

    SRDA-like (`submodel` scope) attacks each submodel separately and codes each adversarial image
    with its own submodel; the images crafted for the submodel `transfer_source_index` (of the
    sorted qualities, as Fig. 3 reads it) are coded with every submodel too, the transfer rows, and
    no other source's are (nothing reads them). ARDA-like (`algorithm` scope) crafts one image per
    image x direction against all submodels.
    """
    atk = get_attack(attack)
    s = AttackSettings.from_dict(settings)
    if atk.direction is not None:
        directions = {atk.name: atk.direction}
    qualities = list(codecs)
    thr_r = [float(t) for t in settings["thresholds"]["rate_bits"]]
    thr_d = [float(t) for t in settings["thresholds"]["distortion_mse255"]]
    latent_dirs = [d for d in settings.get("latent_directions", []) if d in directions]
    g_img = int(settings.get("gallery_image", 0)) % len(names)

    # clean references: one real coding per submodel and image
    clean, clean_maps, latents, gallery = {}, {}, [], {"clean": to_numpy(x[g_img]).astype(np.float16)}
    for q, codec in codecs.items():
        for i in range(len(names)):
            row, maps = assess_image(codec, x[i : i + 1], x[i : i + 1])
            clean[q, i], clean_maps[q, i] = row, maps
            if i == g_img and maps["x_hat"] is not None:
                gallery[f"recon_clean/q{q}"] = to_numpy(maps["x_hat"][0]).astype(np.float16)
        if codec.differentiable and latent_dirs:
            latents += [{"quality": q, "direction": "clean", **r} for r in channel_ranges(latent_features(codec, x))]

    sources = [[q] for q in qualities] if atk.scope == "submodel" else [qualities]
    transfer_source = (sorted(qualities)[int(settings["transfer_source_index"]) % len(qualities)]
                       if atk.scope == "submodel" else None)
    rows, local, steps, adv_images = [], [], [], {}
    for src in sources:
        t0, cpu0 = time.perf_counter(), time.process_time()
        target = codecs[src[0]] if atk.scope == "submodel" else [codecs[q] for q in src]
        res = attack_grid(atk, target, x, directions, s)
        attack_s, attack_cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
        src_label = str(src[0]) if atk.scope == "submodel" else "all"
        log.info("%s %s submodel %s: %d samples attacked in %.1f s", attack, model, src_label,
                 len(names) * len(directions), attack_s)
        steps += [{"attacked_quality": src_label, **r} for r in res["log"]]
        for d, xa in res["x_adv"].items():
            adv_images[src_label, d] = xa
            # per-sample figures leave the device once per direction, not once per image
            norms = to_python(perturbation_norm(xa - x))
            reached, steps_total = to_python(res["reached"][d]), to_python(res["steps_total"][d])
            for q in qualities:
                is_transfer = atk.scope == "submodel" and q != src[0]
                if is_transfer and src[0] != transfer_source:
                    continue
                for i, name in enumerate(names):
                    row, maps = assess_image(codecs[q], xa[i : i + 1], x[i : i + 1])
                    c = clean[q, i]
                    row.update(
                        model=model, attack=attack, direction=d, gamma_r=float(directions[d][0]),
                        gamma_d=float(directions[d][1]), image=name, attacked_quality=src_label,
                        quality=q, transfer=is_transfer, proxy=s.proxy, epsilon=s.epsilon,
                        steps_T=s.steps, perturbation_mse=norms[i],
                        reached_sphere=reached[i], steps_total=steps_total[i],
                        attack_s=attack_s, attack_cpu_s=attack_cpu_s, error_clean=c["error"],
                        **{f"{k}_clean": c[k] for k in CLEAN_KEYS},
                    )
                    row["dR_actual_bpp"] = row["bpp_actual"] - c["bpp_actual"]
                    row["dR_est_bpp"] = row["bpp_est"] - c["bpp_est"]
                    row["dD_mse255"] = row["mse255"] - c["mse255"]
                    rows.append(row)
                    if is_transfer:
                        continue
                    cm = clean_maps[q, i]
                    d_rate = maps["rate"] - cm["rate"] if maps["rate"] is not None else None
                    d_dist = maps["dist"] - cm["dist"]
                    key = {"model": model, "attack": attack, "direction": d, "quality": q, "image": name}
                    if d_rate is not None:
                        local += [{**key, "metric": "rate", "threshold": t, "ratio": r,
                                   "n_nonfinite": int((~torch.isfinite(d_rate)).sum())}
                                  for t, r in zip(thr_r, success_ratio(d_rate, thr_r), strict=True)]
                    local += [{**key, "metric": "distortion", "threshold": t, "ratio": r,
                               "n_nonfinite": int((~torch.isfinite(d_dist)).sum())}
                              for t, r in zip(thr_d, success_ratio(d_dist, thr_d), strict=True)]
                    if i == g_img:
                        gallery[f"adv/q{q}/{d}"] = to_numpy(xa[i]).astype(np.float16)
                        gallery[f"ddist/q{q}/{d}"] = to_numpy(d_dist).astype(np.float32)
                        if maps["x_hat"] is not None:
                            gallery[f"recon/q{q}/{d}"] = to_numpy(maps["x_hat"][0]).astype(np.float16)
                if not is_transfer and d in latent_dirs and codecs[q].differentiable:
                    latents += [{"quality": q, "direction": d, **r}
                                for r in channel_ranges(latent_features(codecs[q], xa))]
    for r in latents:
        r.update(model=model, attack=attack)
    return {
        "rows": pd.DataFrame(rows),
        "local": pd.DataFrame(local),
        "latents": pd.DataFrame(latents),
        "steps": pd.DataFrame(steps),
        "gallery": gallery,
        "adv": adv_images,
    }


# -- ARDA's temperature ----------------------------------------------------------------------------


def tau_values(taus: list, directions: dict) -> list[tuple[str, float, dict]]:
    """(rule, tau, directions) of every ARDA run of the ablation: a number t is one tau for every
    direction (rule "tau=<t>"); `gamma_d` is tau = gamma_d for each direction with gamma_d > 0
    (rule "tau=gamma_d"; the paper's "tau equal to gamma" read as the distortion weight), one run
    per direction."""
    runs = []
    for t in taus:
        if t == "gamma_d":
            runs += [("tau=gamma_d", float(g[1]), {d: g}) for d, g in directions.items() if float(g[1]) > 0]
        elif isinstance(t, str):
            raise ValueError(f"tau_ablation.taus: {t!r} is neither a number nor 'gamma_d'")
        else:
            runs.append((f"tau={float(t):g}", float(t), dict(directions)))
    return runs


def weight_spread(steps: pd.DataFrame) -> pd.DataFrame:
    """Per direction and image of an ARDA step log: K (submodels), the mean over the sample's
    active steps of its largest weight (`w_max_mean`; 1/K is uniform) and that largest weight at
    its last step (`w_max_final`)."""
    a = steps[steps["active"].astype(bool)]
    w_max = a["weights"].map(max)
    out = a.assign(w_max=w_max, k=a["weights"].map(len)).groupby(["direction", "image"], sort=False)
    return out.agg(n_submodels=("k", "first"), w_max_mean=("w_max", "mean"), w_max_final=("w_max", "last")).reset_index()


def tau_ablation_job(model: str, codecs: dict, names: list[str], x: torch.Tensor, directions: dict,
                     settings: dict) -> pd.DataFrame:
    """ARDA on all submodels of `model` once per temperature of `settings["taus"]` (`tau_values`),
    re-measured by real coding as the attack study does: its rows plus `tau`, `tau_rule` and how
    far the weights were from uniform (`weight_spread`)."""
    frames = []
    for rule, tau, dirs in tau_values(settings["taus"], directions):
        out = run_attack_job("arda", model, codecs, names, x, dirs, {**settings, "tau": tau, "latent_directions": []})
        spread = weight_spread(out["steps"]).assign(image=lambda d: [names[i] for i in d["image"]])
        frames.append(out["rows"].assign(tau=tau, tau_rule=rule).merge(spread, on=["direction", "image"], how="left"))
    return pd.concat(frames, ignore_index=True)
