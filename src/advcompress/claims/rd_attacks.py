"""Claims of "RD attacks on learned compression" (SRDA/ARDA, Table II-III, Figs. 5, 13, 15, 17).

The unit is the evaluation image: an image's rows (submodels, and directions where a claim
averages over them) are averaged into one value first, as the paper's mu averages over submodels.
Differences between conditions pair the same image.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from advcompress.claims.core import (
    Result,
    Side,
    claim,
    every,
    inconclusive,
    log2_ratio_to_ratio,
    mean_stat,
    most,
    paired_stat,
    unit_means,
)

PAPER = "rd-attacks-on-learned-compression.txt"
DR, DD = "dR_actual_bpp", "dD_mse255"


def _bool(s: pd.Series) -> pd.Series:
    if s.dtype == bool:
        return s
    return s.astype(str).str.strip().str.lower().isin(["true", "1", "1.0"])


def attacked(rows: pd.DataFrame, attack: str) -> pd.DataFrame:
    """Rows of `attack` where the adversarial image is coded by the submodel(s) it was made for."""
    return rows[(rows["attack"] == attack) & ~_bool(rows["transfer"])]


def rate_direction(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[(rows["gamma_r"] > 0) & (rows["gamma_d"] == 0)]


def distortion_direction(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[(rows["gamma_r"] == 0) & (rows["gamma_d"] > 0)]


def labelled(rows: pd.DataFrame, settings: dict) -> pd.DataFrame:
    """Defense rows with their base model and defense label (settings['labels'], from the config)."""
    labels = settings.get("labels", {})
    unknown = sorted(set(rows["model"]) - set(labels))
    if unknown:
        raise ValueError(f"defense rows of codecs without a defense label: {unknown}")
    return rows.assign(base=rows["model"].map(lambda c: labels[c]["model"]),
                       defense=rows["model"].map(lambda c: labels[c]["defense"]))


def _label_of(settings: dict, kind: str) -> str | None:
    """The defense label of AT with `kind` samples (srda, sra, sda), if this tier trains it."""
    return next((label for label, k in settings.get("samples", {}).items() if k == kind), None)


@claim("rd-srda-rate-direction-raises-rate", PAPER, "VII.B.1, Fig. 5, Table II",
       """SRDA in the rate direction (gamma = (1, 0)) raises the actual bitstream rate of every attacked
       codec: mean over images of dR (actual bpp, averaged over submodels) > 0; holds if every codec's
       interval is above 0, fails if any codec's is wholly at or below 0.""",
       ["attack_rows"])
def srda_raises_rate(t: dict, s: dict) -> Result:
    rows = rate_direction(attacked(t["attack_rows"], "srda"))
    stats = []
    for codec, g in rows.groupby("model", sort=True):
        v = unit_means(g, "image", DR)
        stats.append(mean_stat(v.to_numpy(), "mean dR actual [bpp]", f"codec={codec}", Side(">", 0), s,
                               "rd-srda-rate-direction-raises-rate"))
    return every(stats, "codec")


def _direction_shift(t: dict, s: dict, col: str, cid: str, name: str) -> Result:
    rows = attacked(t["attack_rows"], "srda")
    stats = []
    for codec, g in rows.groupby("model", sort=True):
        d = unit_means(distortion_direction(g), "image", col)
        r = unit_means(rate_direction(g), "image", col)
        a, b = (d, r) if col == DD else (r, d)
        stats.append(paired_stat(a, b, name, f"codec={codec}", Side(">", 0), s, cid))
    return most(stats, "codecs")


@claim("rd-srda-distortion-rises-to-sda", PAPER, "VII.B.2, Fig. 5",
       """Under SRDA the mean dD (MSE on 0-255) is larger in the distortion direction (0, 1) than in the
       rate direction (1, 0), paired over images: holds if more than half of the codecs' intervals
       are above 0, fails if at least half are wholly at or below 0.""",
       ["attack_rows"])
def distortion_rises(t: dict, s: dict) -> Result:
    return _direction_shift(t, s, DD, "rd-srda-distortion-rises-to-sda", "dD(sda) - dD(sra) [MSE255]")


@claim("rd-srda-rate-falls-to-sda", PAPER, "VII.B.2, Fig. 5",
       """Under SRDA the mean dR (actual bpp) is larger in the rate direction (1, 0) than in the
       distortion direction (0, 1), paired over images: most codecs (as for dD).""",
       ["attack_rows"])
def rate_falls(t: dict, s: dict) -> Result:
    return _direction_shift(t, s, DR, "rd-srda-rate-falls-to-sda", "dR(sra) - dR(sda) [bpp]")


@claim("rd-arda-milder-than-srda", PAPER, "VII.B.1, Table II",
       """Most fixed-rate codecs suffer less under ARDA than under SRDA: per codec, SRDA minus ARDA of
       the mean dR and of the mean dD (over directions and submodels), paired over images, both > 0
       for the codec to hold; holds if more than half of the fixed-rate codecs hold, fails if at least
       half have a difference wholly at or below 0.""",
       ["attack_rows"])
def arda_milder(t: dict, s: dict) -> Result:
    cid = "rd-arda-milder-than-srda"
    rows = t["attack_rows"]
    if not (rows["attack"] == "arda").any():
        return inconclusive("not run in this tier: no ARDA rows")
    vr = s.get("variable_rate", {})
    fixed = sorted(m for m in set(rows["model"]) if vr.get(m) is False)
    if not fixed:
        return inconclusive("no fixed-rate codec among the attacked codecs (settings.variable_rate)")
    stats = []
    for codec in fixed:
        g = rows[rows["model"] == codec]
        sr, ar = attacked(g, "srda"), attacked(g, "arda")
        for col, name in [(DR, "dR(SRDA) - dR(ARDA) [bpp]"), (DD, "dD(SRDA) - dD(ARDA) [MSE255]")]:
            stats.append(paired_stat(unit_means(sr, "image", col), unit_means(ar, "image", col), name,
                                     f"codec={codec}", Side(">", 0), s, cid))
    return most(stats, "fixed-rate codecs")


# -- defenses (Sec. VII.E, App. C) -----------------------------------------------------------------


def _defense_means(t: dict, s: dict) -> dict[tuple[str, str], pd.DataFrame]:
    """(base model, defense label) -> per-image mean dR and dD under SRDA (directions, submodels)."""
    rows = labelled(attacked(t["defense_rows"], "srda"), s)
    out = {}
    for (base, label), g in rows.groupby(["base", "defense"], sort=True):
        out[base, label] = pd.DataFrame({DR: unit_means(g, "image", DR), DD: unit_means(g, "image", DD)})
    return out


def _compare(t, s, cid, worse: str, better: str, cols, what="model", agg=every) -> Result:
    """`worse` minus `better` defense (> 0: `better` lowers the deltas), paired over images, per model."""
    means = _defense_means(t, s)
    models = sorted({m for m, _ in means})
    present = {label for _, label in means}
    missing = [lab for lab in (worse, better) if lab not in present]
    if missing:
        return inconclusive(f"not run in this tier: no SRDA rows of defense {missing}")
    stats = []
    for m in models:
        if (m, worse) not in means or (m, better) not in means:
            continue
        for col in cols:
            unit = "bpp" if col == DR else "MSE255"
            stats.append(paired_stat(means[m, worse][col], means[m, better][col],
                                     f"{col[:2]}({worse}) - {col[:2]}({better}) [{unit}]",
                                     f"model={m}" + ("" if agg is every else f" {col[:2]}"), Side(">", 0), s, cid))
    return agg(stats, what)


@claim("def-at-srda-lowers-rate-and-distortion", PAPER, "VII.E, Table III",
       """Adversarial training with SRDA samples lowers both mean dR and mean dD under SRDA: undefended
       minus AT, paired over images, > 0 for both; holds if every defended model holds in both,
       fails if any difference is wholly at or below 0.""",
       ["defense_rows"])
def at_srda_lowers_both(t: dict, s: dict) -> Result:
    at = _label_of(s, "srda")
    if at is None:
        return inconclusive("not run in this tier: no AT with SRDA samples (defense.at.samples)")
    return _compare(t, s, "def-at-srda-lowers-rate-and-distortion", "none", at, [DR, DD])


@claim("def-at-sra-misses-distortion", PAPER, "VII.E, Table III",
       """AT with SRA-only samples leaves more distortion vulnerability than AT with SRDA samples:
       mean dD under SRDA, AT-sra minus AT-srda, paired over images, > 0 for every defended model.""",
       ["defense_rows"])
def at_sra_misses_distortion(t: dict, s: dict) -> Result:
    sra, srda = _label_of(s, "sra"), _label_of(s, "srda")
    if sra is None or srda is None:
        return inconclusive("not run in this tier: AT with SRA and with SRDA samples are not both configured")
    return _compare(t, s, "def-at-sra-misses-distortion", sra, srda, [DD])


@claim("def-at-sda-misses-rate", PAPER, "VII.E, Table III",
       """AT with SDA-only samples leaves more rate vulnerability than AT with SRDA samples:
       mean dR under SRDA, AT-sda minus AT-srda, paired over images, > 0 for every defended model.""",
       ["defense_rows"])
def at_sda_misses_rate(t: dict, s: dict) -> Result:
    sda, srda = _label_of(s, "sda"), _label_of(s, "srda")
    if sda is None or srda is None:
        return inconclusive("not run in this tier: AT with SDA and with SRDA samples are not both configured")
    return _compare(t, s, "def-at-sda-misses-rate", sda, srda, [DR])


@claim("def-at-beats-online", PAPER, "VII.E, Fig. 13",
       """Against SRDA, adversarial training lowers the deltas more than online updating in general:
       online minus AT of mean dR and of mean dD, paired over images, > 0; one group per (model,
       dimension); holds if more than half of the groups hold, fails if at least half fail.""",
       ["defense_rows"])
def at_beats_online(t: dict, s: dict) -> Result:
    return _compare(t, s, "def-at-beats-online", "online", "AT", [DR, DD], "(model, dimension) groups", most)


@claim("def-online-on-at-lowers-distortion", PAPER, "App. C.3, Fig. 17",
       """Online updating on top of AT further lowers the distortion under SRDA: mean dD, AT minus
       AT + online, paired over images, > 0 for every defended model.""",
       ["defense_rows"])
def online_on_at(t: dict, s: dict) -> Result:
    return _compare(t, s, "def-online-on-at-lowers-distortion", "AT", "AT + online", [DD])


@claim("def-at-clean-cost-small", PAPER, "App. C.2, Fig. 15",
       """AT costs little on clean images: at each matched quality, PSNR before minus after AT < 0.5 dB
       and the actual rate after AT < 1.1 times the rate before (geometric mean of per-image ratios),
       each paired over images (averaged over qualities); every defended model, both statistics.""",
       ["defense_clean"])
def at_clean_cost(t: dict, s: dict) -> Result:
    cid = "def-at-clean-cost-small"
    rows = t["defense_clean"]
    labels = s.get("labels", {})
    rows = rows[rows["codec"].isin(labels)]
    rows = rows.assign(base=rows["codec"].map(lambda c: labels[c]["model"]),
                       defense=rows["codec"].map(lambda c: labels[c]["defense"]))
    stats = []
    for m, g in rows.groupby("base", sort=True):
        before = g[g["defense"] == "none"].set_index(["quality", "image"])
        after = g[g["defense"] == "AT"].set_index(["quality", "image"])
        both = before.index.intersection(after.index)
        if after.empty:
            continue
        b, a = before.loc[both], after.loc[both]
        psnr_b = b["psnr_db"].groupby(level="image").mean()
        psnr_a = a["psnr_db"].groupby(level="image").mean()
        lb = np.log2(pd.to_numeric(b["bpp_actual"], errors="coerce")).groupby(level="image").mean()
        la = np.log2(pd.to_numeric(a["bpp_actual"], errors="coerce")).groupby(level="image").mean()
        stats.append(paired_stat(psnr_b, psnr_a, "PSNR before - after AT [dB]", f"model={m}", Side("<", 0.5), s, cid))
        stats.append(paired_stat(la, lb, "bpp after / before AT (geometric mean)", f"model={m}",
                                 Side("<", 1.1), s, cid, transform=log2_ratio_to_ratio))
    if not stats:
        return inconclusive("not run in this tier: no clean rows after AT")
    return every(stats, "(model, statistic)")
