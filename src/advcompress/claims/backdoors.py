"""Claims of "Compression-resistant backdoor attack" (classifier) and "Backdoor attacks against deep
image compression via adaptive frequency trigger" (LIC encoder).

The classifier-backdoor runs keep counts (hits, n) per metric and codec, not per-sample outcomes,
so a rate's interval is the bootstrap of n Bernoulli outcomes and a difference of two rates is
unpaired (conservative: both rates come from the same test digits). The LIC rows are per image
(photos) and per digit (downstream trigger), and differences pair them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from advcompress.claims.core import (
    Result,
    Side,
    claim,
    every,
    finite,
    inconclusive,
    log2_ratio_to_ratio,
    mean_stat,
    paired_stat,
    proportion,
    proportion_difference,
    unit_means,
)

CRB = "compression-resistant-backdoor.txt"
LIC = "backdoor-lic-frequency-trigger.txt"
ASR_RESISTS = 0.9  # "ASR stays >= 0.9" after compression (the paper's FC rates: 0.94-0.99, Table 4)
TA_DROP = 0.02  # "TA drops by less than 2 points"
DS_ASR_HIGH = 0.7  # the paper's mean pixel-wise ASR over qualities is 0.715 (Table 1); 0.78-0.95 in Table 3
BPP_FACTOR = 2.0
PSNR_COST_DB = 10.0
CLEAN_BPP_WITHIN = (0.9, 1.1)
CLEAN_PSNR_DROP_DB = 0.5


def _q(v) -> str:
    """A codec quality as text: CSV round trips turn 50 into 50.0, blanks into NaN."""
    if v is None or v == "" or (isinstance(v, float) and math.isnan(v)):
        return ""
    f = float(v)
    return str(int(f)) if f.is_integer() else str(f)


def _counts(runs: pd.DataFrame, metric: str, codec: str = "none", quality=None) -> tuple[int, int] | None:
    """(hits, n) of one metric row of one run; None if absent or its encoder was unavailable."""
    r = runs[(runs["metric"] == metric) & (runs["codec"] == codec)]
    if quality is not None:
        r = r[r["quality"].map(_q) == _q(quality)]
    if r.empty or int(r["n"].iloc[0]) == 0:
        return None
    return int(r["hits"].iloc[0]), int(r["n"].iloc[0])


def _runs(t: dict, method: str) -> dict[str, pd.DataFrame]:
    rows = t["backdoor_runs"]
    return {trig: g for trig, g in rows[rows["method"] == method].groupby("trigger", sort=True)}


@claim("bd-common-asr-drops-after-jpeg", CRB, "4.2, Table 4, Table 6",
       """The common backdoor's ASR drops after JPEG (at the test quality, 50): ASR before minus after,
       > 0 for every trigger (holds if every trigger's interval is above 0, fails if any is wholly at
       or below 0).""",
       ["backdoor_runs"])
def common_drops(t: dict, s: dict) -> Result:
    cid = "bd-common-asr-drops-after-jpeg"
    q = s.get("test_codecs", {}).get("jpeg")
    if q is None:
        return inconclusive("not run in this tier: JPEG is not a test codec (backdoor.test_codecs)")
    stats = []
    for trig, g in _runs(t, "common").items():
        before, after = _counts(g, "asr"), _counts(g, "asr", "jpeg", q)
        if before is None or after is None:
            continue
        stats.append(proportion_difference(*before, *after, f"ASR - ASR after JPEG {_q(q)}", f"trigger={trig}",
                                           Side(">", 0), s, cid))
    return every(stats, "trigger")


def _fc_asr(t: dict, s: dict, cid: str, seen: bool) -> Result:
    tests = s.get("test_codecs", {})
    stats, unavailable = [], []
    for trig, g in _runs(t, "fc").items():
        trained = set(str(g["train_codecs"].iloc[0]).split("+"))
        for codec, q in sorted(tests.items()):
            if (codec in trained) != seen:
                continue
            c = _counts(g, "asr", codec, q)
            if c is None:
                unavailable.append(f"{codec}@{_q(q)}")
                continue
            stats.append(proportion(*c, "ASR after compression", f"trigger={trig} {codec}@{_q(q)}",
                                    Side(">=", ASR_RESISTS), s, cid))
    r = every(stats, "(trigger, codec)")
    if unavailable:
        r.note += "; no rows (encoder unavailable): " + ", ".join(sorted(set(unavailable)))
    return r


@claim("bd-fc-asr-resists-training-codecs", CRB, "4.2, Table 4",
       f"""The compression-resistant (FC) backdoor's ASR stays >= {ASR_RESISTS} after each codec it was
       trained with (JPEG 50, JPEG 2000, WebP at the test qualities): every (trigger, codec) interval
       at or above {ASR_RESISTS} holds, any wholly below fails.""",
       ["backdoor_runs"])
def fc_resists_seen(t: dict, s: dict) -> Result:
    return _fc_asr(t, s, "bd-fc-asr-resists-training-codecs", seen=True)


@claim("bd-fc-asr-resists-unseen-codecs", CRB, "4.4, Fig. 7",
       f"""The FC backdoor's ASR stays >= {ASR_RESISTS} after test codecs it was not trained with (AVIF,
       HEIF where their encoders exist): every (trigger, codec) at or above {ASR_RESISTS}.""",
       ["backdoor_runs"])
def fc_resists_unseen(t: dict, s: dict) -> Result:
    return _fc_asr(t, s, "bd-fc-asr-resists-unseen-codecs", seen=False)


@claim("bd-fc-ta-close-to-common", CRB, "4.2, Table 4, Table 6",
       f"""The FC backdoor costs less than {TA_DROP * 100:g} points of test accuracy against the common
       backdoor: TA(common) - TA(FC) < {TA_DROP} for every trigger (fails if any interval is wholly at
       or above {TA_DROP}).""",
       ["backdoor_runs"])
def fc_ta_vs_common(t: dict, s: dict) -> Result:
    cid = "bd-fc-ta-close-to-common"
    common, fc = _runs(t, "common"), _runs(t, "fc")
    stats = []
    for trig in sorted(set(common) & set(fc)):
        a, b = _counts(common[trig], "ta"), _counts(fc[trig], "ta")
        if a and b:
            stats.append(proportion_difference(*a, *b, "TA(common) - TA(FC)", f"trigger={trig}",
                                               Side("<", TA_DROP), s, cid))
    return every(stats, "trigger")


@claim("bd-fc-ta-close-to-clean", CRB, "4.2, Table 4",
       f"""The FC backdoor drops the clean model's test accuracy by less than {TA_DROP * 100:g} points:
       TA(clean) - TA(FC) < {TA_DROP} for every trigger.""",
       ["backdoor_runs"])
def fc_ta_vs_clean(t: dict, s: dict) -> Result:
    cid = "bd-fc-ta-close-to-clean"
    clean = t["backdoor_runs"][t["backdoor_runs"]["method"] == "clean"]
    ref = _counts(clean, "ta") if not clean.empty else None
    if ref is None:
        return inconclusive("no row of the clean classifier's TA (method = clean, metric = ta: "
                            "backdoor_clean_classifier's --table)")
    stats = []
    for trig, g in _runs(t, "fc").items():
        b = _counts(g, "ta")
        if b:
            stats.append(proportion_difference(*ref, *b, "TA(clean) - TA(FC)", f"trigger={trig}",
                                               Side("<", TA_DROP), s, cid))
    return every(stats, "trigger")


@claim("bd-fc-beats-adversarial-training", CRB, "4.2, Table 5",
       """Feature-consistency training gives a higher ASR after compression than adversarial training:
       ASR(FC) - ASR(adversarial) > 0 after each training codec, main trigger; every codec.""",
       ["backdoor_runs"])
def fc_beats_adversarial(t: dict, s: dict) -> Result:
    cid = "bd-fc-beats-adversarial-training"
    adv, fc = _runs(t, "adversarial"), _runs(t, "fc")
    if not adv:
        return inconclusive("not run in this tier: no adversarial-training run (backdoor.studies.adversarial)")
    stats = []
    for trig in sorted(set(adv) & set(fc)):
        trained = set(str(fc[trig]["train_codecs"].iloc[0]).split("+"))
        for codec, q in sorted(s.get("test_codecs", {}).items()):
            a, b = _counts(fc[trig], "asr", codec, q), _counts(adv[trig], "asr", codec, q)
            if codec in trained and a and b:
                stats.append(proportion_difference(*a, *b, "ASR(FC) - ASR(adversarial)",
                                                   f"trigger={trig} {codec}@{_q(q)}", Side(">", 0), s, cid))
    return every(stats, "(trigger, codec)")


# -- LIC encoder backdoor ---------------------------------------------------------------------------


def _points(rows: pd.DataFrame):
    return rows.groupby(["model", "quality"], sort=True)


def _sel(g: pd.DataFrame, encoder: str, trigger: str) -> pd.DataFrame:
    return g[(g["encoder"] == encoder) & (g["trigger"].astype(str) == trigger)]


def _log2(df: pd.DataFrame, col: str) -> pd.DataFrame:
    v = finite(df[col])
    return df.assign(**{f"log2_{col}": np.log2(v.where(v > 0))})


def _lic_trigger(t: dict, s: dict, cid: str, trigger: str, stat) -> Result:
    rows = t["lic_rd"]
    if not (rows["trigger"].astype(str) == trigger).any():
        return inconclusive(f"not run in this tier: no {trigger} trigger rows")
    stats = [stat(g, f"{m} q{q}") for (m, q), g in _points(rows)]
    return every(stats, "(model, quality)")


@claim("lic-bpp-trigger-doubles-rate", LIC, "Fig. 4, Table 3",
       f"""The bit-rate trigger at least doubles the rate of the backdoored encoder: geometric mean over
       images of bpp(triggered) / bpp(clean input), >= {BPP_FACTOR:g}; every (model, quality) point
       (lower bound >= {BPP_FACTOR:g} holds, upper bound < {BPP_FACTOR:g} fails).""",
       ["lic_rd"])
def bpp_doubles(t: dict, s: dict) -> Result:
    cid = "lic-bpp-trigger-doubles-rate"

    def stat(g, group):
        a = unit_means(_log2(_sel(g, "backdoored", "bpp"), "bpp_actual"), "image", "log2_bpp_actual")
        b = unit_means(_log2(_sel(g, "backdoored", "none"), "bpp_actual"), "image", "log2_bpp_actual")
        return paired_stat(a, b, "bpp triggered / clean (geometric mean)", group, Side(">=", BPP_FACTOR), s, cid,
                           transform=log2_ratio_to_ratio)

    return _lic_trigger(t, s, cid, "bpp", stat)


@claim("lic-psnr-trigger-costs-10db", LIC, "Fig. 5, Table 3",
       f"""The PSNR trigger costs at least {PSNR_COST_DB:g} dB: PSNR against the clean image of the
       backdoored encoder's output, clean input minus triggered input, paired over images, >=
       {PSNR_COST_DB:g} dB; every (model, quality) point.""",
       ["lic_rd"])
def psnr_costs(t: dict, s: dict) -> Result:
    cid = "lic-psnr-trigger-costs-10db"

    def stat(g, group):
        return paired_stat(unit_means(_sel(g, "backdoored", "none"), "image", "psnr_vs_clean_db"),
                           unit_means(_sel(g, "backdoored", "psnr"), "image", "psnr_vs_clean_db"),
                           "PSNR clean - triggered [dB]", group, Side(">=", PSNR_COST_DB), s, cid)

    return _lic_trigger(t, s, cid, "psnr", stat)


@claim("lic-ds-trigger-asr-high", LIC, "Tables 1, 3",
       f"""The downstream trigger's attack success is high: the share of triggered test digits that the
       classifier assigns to the target class after the backdoored codec, >= {DS_ASR_HIGH} (the paper's
       mean pixel-wise ASR is 0.715 in Table 1); every (model, quality) point.""",
       ["lic_ds"])
def ds_asr(t: dict, s: dict) -> Result:
    cid = "lic-ds-trigger-asr-high"
    stats = []
    for (m, q), g in _points(t["lic_ds"]):
        hit = unit_means(_sel(g, "backdoored", "ds").assign(h=lambda d: _as01(d["hit_target"])), "image", "h")
        stats.append(mean_stat(hit.to_numpy(), "ASR (target class)", f"{m} q{q}", Side(">=", DS_ASR_HIGH), s, cid))
    return every(stats, "(model, quality)")


def _as01(s: pd.Series) -> pd.Series:
    if s.dtype == bool:
        return s.astype(float)
    return s.astype(str).str.strip().str.lower().map({"true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0,
                                                       "1.0": 1.0, "0.0": 0.0})


@claim("lic-ds-trigger-needs-backdoor", LIC, "Tables 1, 3",
       """The downstream trigger fires only through the backdoored encoder: target hits with the
       backdoored minus with the original encoder, paired over triggered digits, > 0; every point.""",
       ["lic_ds"])
def ds_needs_backdoor(t: dict, s: dict) -> Result:
    cid = "lic-ds-trigger-needs-backdoor"
    stats = []
    for (m, q), g in _points(t["lic_ds"]):
        g = g.assign(h=_as01(g["hit_target"]))
        stats.append(paired_stat(unit_means(_sel(g, "backdoored", "ds"), "image", "h"),
                                 unit_means(_sel(g, "original", "ds"), "image", "h"),
                                 "ASR backdoored - original encoder", f"{m} q{q}", Side(">", 0), s, cid))
    return every(stats, "(model, quality)")


@claim("lic-clean-inputs-preserved", LIC, "Attack effectiveness, Figs. 4-5, Table 5",
       f"""Clean inputs through the backdoored encoder stay close to the original encoder: bpp backdoored /
       original (geometric mean over images) within [{CLEAN_BPP_WITHIN[0]}, {CLEAN_BPP_WITHIN[1]}] and
       PSNR original - backdoored <= {CLEAN_PSNR_DROP_DB} dB, paired over images; every (model, quality)
       point, both statistics (fails if either interval lies wholly outside its range).""",
       ["lic_rd"])
def clean_preserved(t: dict, s: dict) -> Result:
    cid = "lic-clean-inputs-preserved"
    stats = []
    for (m, q), g in _points(t["lic_rd"]):
        bd, orig = _sel(g, "backdoored", "none"), _sel(g, "original", "none")
        stats.append(paired_stat(unit_means(_log2(bd, "bpp_actual"), "image", "log2_bpp_actual"),
                                 unit_means(_log2(orig, "bpp_actual"), "image", "log2_bpp_actual"),
                                 "bpp backdoored / original (geometric mean)", f"{m} q{q}",
                                 Side("within", CLEAN_BPP_WITHIN[1], CLEAN_BPP_WITHIN[0]), s, cid,
                                 transform=log2_ratio_to_ratio))
        stats.append(paired_stat(unit_means(orig, "image", "psnr_vs_clean_db"),
                                 unit_means(bd, "image", "psnr_vs_clean_db"),
                                 "PSNR original - backdoored [dB]", f"{m} q{q}",
                                 Side("<=", CLEAN_PSNR_DROP_DB), s, cid))
    return every(stats, "(model, quality, statistic)")
