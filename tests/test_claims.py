"""Claim checks on constructed long tables: each holds where its claim is true, fails where it is
false, and stays inconclusive on noise, on too few units and on tables a tier does not write."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from advcompress.claims import (
    CLAIMS,
    COLUMNS,
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    PAPER_ORDER,
    TABLE_KINDS,
    Side,
    claim,
    evaluate,
    evaluate_all,
    to_frame,
    to_markdown,
)
from advcompress.claims.core import Stat, every, most

DIRS = {"sra": (1.0, 0.0), "rd2e-2": (1.0, 0.02), "sda": (0.0, 1.0)}
M = "bmshj2018-factorized"
LABELS = {M: {"model": M, "defense": "none"}, f"{M}@at-srda": {"model": M, "defense": "AT"},
          f"{M}@at-sra": {"model": M, "defense": "AT-sra"}, f"{M}@at-sda": {"model": M, "defense": "AT-sda"},
          f"{M}+online": {"model": M, "defense": "online"},
          f"{M}@at-srda+online": {"model": M, "defense": "AT + online"}}
SETTINGS = {"seed": 0, "labels": LABELS, "samples": {"AT": "srda", "AT-sra": "sra", "AT-sda": "sda"},
            "variable_rate": {"a": False, "b": False, "c": False, "vr": True}, "learned": [M],
            "test_codecs": {"jpeg": 50, "jpeg2000": 30, "webp": 50, "avif": 50, "heif": 50}}


def verdict(cid, tables, settings=SETTINGS):
    return evaluate(CLAIMS[cid], tables, settings)


# -- builders of long tables (the columns the jobs write) ------------------------------------------


def attack_rows(spec, n=10, sd=0.01, seed=0, qualities=(1, 2), alternate=False):
    """spec: {(codec, attack): {direction: (dR, dD)}}; per-image noise of sd (x100 for dD).
    `alternate`: the noise is +-sd by image, with the opposite sign in every other condition, so
    a difference smaller than 2 sd straddles 0 by construction (the noisy, inconclusive cases).
    Transfer rows carry the opposite deltas, so a check that forgets to drop them goes wrong."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, ((codec, attack), dirs) in enumerate(spec.items()):
        for j, (d, (dr, dd)) in enumerate(dirs.items()):
            for q in qualities:
                for i in range(n):
                    e = (-1.0) ** (i + k + j) if alternate else rng.normal()
                    base = {"model": codec, "attack": attack, "direction": d, "gamma_r": DIRS[d][0],
                            "gamma_d": DIRS[d][1], "image": f"im{i}", "quality": q}
                    rows.append(base | {"transfer": False, "dR_actual_bpp": dr + sd * e,
                                        "dD_mse255": dd + 100 * sd * e})
                    if attack == "srda":
                        rows.append(base | {"transfer": True, "dR_actual_bpp": -10 * dr, "dD_mse255": -10 * dd})
    return pd.DataFrame(rows)


def all_dirs(dr, dd):
    return {d: (dr, dd) for d in DIRS}


def defense_rows(by_label, n=10, sd=0.01, alternate=False):
    codec = {lab["defense"]: c for c, lab in LABELS.items()}
    return attack_rows({(codec[d], "srda"): {"sra": v} for d, v in by_label.items()}, n=n, sd=sd,
                       alternate=alternate)


def classify_rows(acc, n=20, attack="ifgsm", eps=8, clean=1.0, bpp=None, net="digits-cnn"):
    """acc: {(defense, through): accuracy}: the first round(acc*n) images correct (same for every
    defense, so paired differences are exact). bpp: {defense: bpp}."""
    rows = []
    for (d, through), a in acc.items():
        k = round(a * n)
        for e in (0, eps):
            for i in range(n):
                ok = float(i < k) if e else clean
                rows.append({"net": net, "attack": attack, "defense": d, "through": through, "eps_255": e,
                             "image": i, "correct": ok, "correct_clean": clean,
                             "bpp_actual": (bpp or {}).get(d, 1.0)})
    return pd.DataFrame(rows)


def adaptive_rows(acc, n=20, unmatched_worse=0):
    """acc: {method: accuracy}; `unmatched_worse` extra images where augmented saliency is wrong,
    JPEG right, and the adaptive file missed the size: they must not count."""
    rows = []
    for m, a in acc.items():
        k = round(a * n)
        for i in range(n):
            rows.append({"net": "digits-cnn", "image": i, "method": m, "correct": float(i < k), "size_matched": True})
        for j in range(unmatched_worse):
            rows.append({"net": "digits-cnn", "image": n + j, "method": m, "correct": float(m == "jpeg"),
                         "size_matched": m == "jpeg"})
    return pd.DataFrame(rows)


def bd_run(method, trigger="gauss", ta=(840, 1000), asr=None, train="jpeg+jpeg2000+webp"):
    """One run's rows: asr {codec@q or 'none': (hits, n)}."""
    base = {"run": f"{method}-{trigger}", "method": method, "trigger": trigger,
            "train_codecs": train if method != "common" else "none"}
    rows = [base | {"metric": "ta", "codec": "none", "quality": "", "hits": ta[0], "n": ta[1]}]
    for key, (h, n) in (asr or {}).items():
        codec, _, q = key.partition("@")
        rows.append(base | {"metric": "asr", "codec": codec, "quality": float(q) if q else "", "hits": h, "n": n})
    return pd.DataFrame(rows)


def seen(h, n=1000):
    return {"jpeg@50": (h, n), "jpeg2000@30": (h, n), "webp@50": (h, n)}


def lic_rd(points, n=8, sd=0.01):
    """points: {(encoder, trigger): (bpp, psnr)} for one (model, quality)."""
    rng = np.random.default_rng(1)
    rows = []
    for (enc, trig), (bpp, psnr) in points.items():
        for i in range(n):
            rows.append({"model": "bmshj2018-hyperprior", "quality": 1, "image": f"im{i}", "encoder": enc,
                         "trigger": trig, "bpp_actual": bpp * (1 + sd * rng.normal()),
                         "psnr_vs_clean_db": psnr + sd * rng.normal()})
    return pd.DataFrame(rows)


def lic_ds(hits, n=20):
    """hits: {(encoder, trigger): hits of n}, the first `hits` digits hit the target."""
    rows = []
    for (enc, trig), h in hits.items():
        for i in range(n):
            rows.append({"model": "bmshj2018-hyperprior", "quality": 1, "image": i, "encoder": enc, "trigger": trig,
                         "hit_target": i < h, "correct": i >= h})
    return pd.DataFrame(rows)


CLEAN_LIC = {("original", "none"): (0.3, 30.0), ("backdoored", "none"): (0.3, 30.0)}

# claim id -> {expected verdict: (tables, settings or None)}
CASES = {
    "rd-srda-rate-direction-raises-rate": {
        HOLDS: {"attack_rows": attack_rows({("a", "srda"): {"sra": (0.5, 10)}, ("b", "srda"): {"sra": (0.2, 10)}})},
        FAILS: {"attack_rows": attack_rows({("a", "srda"): {"sra": (0.5, 10)}, ("b", "srda"): {"sra": (-0.2, 10)}})},
        INCONCLUSIVE: {"attack_rows": attack_rows({("a", "srda"): {"sra": (0.1, 10)}}, n=4, sd=1.0, alternate=True)},
    },
    "rd-srda-distortion-rises-to-sda": {
        HOLDS: {"attack_rows": attack_rows({("a", "srda"): {"sra": (1, 10), "sda": (0.1, 100)},
                                            ("b", "srda"): {"sra": (1, 10), "sda": (0.1, 100)},
                                            ("c", "srda"): {"sra": (1, 100), "sda": (0.1, 10)}})},
        FAILS: {"attack_rows": attack_rows({("a", "srda"): {"sra": (1, 10), "sda": (0.1, 100)},
                                            ("b", "srda"): {"sra": (1, 100), "sda": (0.1, 10)}})},
        INCONCLUSIVE: {"attack_rows": attack_rows({("a", "srda"): {"sra": (1, 10), "sda": (0.1, 20)}}, n=4, sd=1,
                                                   alternate=True)},
    },
    "rd-srda-rate-falls-to-sda": {
        HOLDS: {"attack_rows": attack_rows({("a", "srda"): {"sra": (1, 10), "sda": (0.1, 100)}})},
        FAILS: {"attack_rows": attack_rows({("a", "srda"): {"sra": (0.1, 10), "sda": (1, 100)}})},
    },
    "rd-arda-milder-than-srda": {
        HOLDS: {"attack_rows": attack_rows({("a", "srda"): all_dirs(1, 100), ("a", "arda"): all_dirs(0.1, 10),
                                            ("vr", "srda"): all_dirs(0.1, 10), ("vr", "arda"): all_dirs(1, 100)})},
        FAILS: {"attack_rows": attack_rows({("a", "srda"): all_dirs(1, 100), ("a", "arda"): all_dirs(0.1, 200),
                                            ("b", "srda"): all_dirs(0.1, 10), ("b", "arda"): all_dirs(1, 100),
                                            ("vr", "srda"): all_dirs(1, 100), ("vr", "arda"): all_dirs(0.1, 10)})},
        INCONCLUSIVE: {"attack_rows": attack_rows({("a", "srda"): all_dirs(1, 100)})},
    },
    "def-at-srda-lowers-rate-and-distortion": {
        HOLDS: {"defense_rows": defense_rows({"none": (1, 100), "AT": (0.2, 20)})},
        FAILS: {"defense_rows": defense_rows({"none": (1, 100), "AT": (0.2, 200)})},
        INCONCLUSIVE: {"defense_rows": defense_rows({"none": (1, 100), "AT": (0.9, 95)}, n=4, sd=1, alternate=True)},
    },
    "def-at-sra-misses-distortion": {
        HOLDS: {"defense_rows": defense_rows({"AT-sra": (0.2, 200), "AT": (0.2, 20)})},
        FAILS: {"defense_rows": defense_rows({"AT-sra": (0.2, 10), "AT": (0.2, 20)})},
    },
    "def-at-sda-misses-rate": {
        HOLDS: {"defense_rows": defense_rows({"AT-sda": (2, 20), "AT": (0.2, 20)})},
        FAILS: {"defense_rows": defense_rows({"AT-sda": (0.1, 20), "AT": (0.2, 20)})},
    },
    "def-at-beats-online": {
        HOLDS: {"defense_rows": defense_rows({"online": (0.8, 80), "AT": (0.2, 20)})},
        FAILS: {"defense_rows": defense_rows({"online": (0.8, 10), "AT": (0.2, 20)})},
    },
    "def-online-on-at-lowers-distortion": {
        HOLDS: {"defense_rows": defense_rows({"AT": (0.2, 20), "AT + online": (0.5, 10)})},
        FAILS: {"defense_rows": defense_rows({"AT": (0.2, 20), "AT + online": (0.1, 30)})},
    },
    "cls-learned-beats-jpeg-black-box": {
        HOLDS: {"classify_attack": classify_rows({(f"{M}@2", False): 0.9, ("jpeg@50", False): 0.2, ("none", False): 0},
                                                 bpp={f"{M}@2": 0.5, "jpeg@50": 1.0})},
        FAILS: {"classify_attack": classify_rows({(f"{M}@2", False): 0.2, ("jpeg@50", False): 0.9},
                                                 bpp={f"{M}@2": 0.5, "jpeg@50": 1.0})},
        # the learned codec spends five times JPEG's bits: no comparison at a comparable rate
        INCONCLUSIVE: {"classify_attack": classify_rows({(f"{M}@2", False): 0.9, ("jpeg@50", False): 0.2},
                                                        bpp={f"{M}@2": 5.0, "jpeg@50": 1.0})},
    },
    "cls-white-box-collapses": {
        HOLDS: {"classify_attack": classify_rows({(f"{M}@2", True): 0.1, ("jpeg@50", True): 0.05,
                                                  ("jpeg@50", False): 1.0})},
        FAILS: {"classify_attack": classify_rows({(f"{M}@2", True): 0.1, ("jpeg@50", True): 0.9})},
        INCONCLUSIVE: {"classify_attack": classify_rows({(f"{M}@2", False): 0.1})},
    },
    "cls-white-box-weaker-than-black-box": {
        HOLDS: {"classify_attack": classify_rows({(f"{M}@2", False): 0.9, (f"{M}@2", True): 0.1})},
        FAILS: {"classify_attack": classify_rows({(f"{M}@2", False): 0.1, (f"{M}@2", True): 0.9})},
        INCONCLUSIVE: {"classify_attack": classify_rows({(f"{M}@2", False): 0.75, (f"{M}@2", True): 0.5}, n=4)},
    },
    "cls-sequential-rounds-raise-robustness": {
        HOLDS: {"classify_sequential": classify_rows({("jpeg@50x1", True): 0.2, ("jpeg@50x4", True): 0.9})},
        FAILS: {"classify_sequential": classify_rows({("jpeg@50x1", True): 0.9, ("jpeg@50x4", True): 0.2})},
        INCONCLUSIVE: {"classify_sequential": classify_rows({("jpeg@50x2", True): 0.9})},
    },
    "ajpeg-not-worse-than-jpeg": {
        HOLDS: {"classify_adaptive": adaptive_rows({"jpeg": 0.5, "aug_saliency": 0.5}, unmatched_worse=10)},
        FAILS: {"classify_adaptive": adaptive_rows({"jpeg": 0.9, "aug_saliency": 0.2})},
        INCONCLUSIVE: {"classify_adaptive": adaptive_rows({"jpeg": 0.5, "aug_saliency": 0.25}, n=4)},
    },
    "ajpeg-improves-on-jpeg": {
        HOLDS: {"classify_adaptive": adaptive_rows({"jpeg": 0.2, "aug_saliency": 0.9, "saliency": 0.0},
                                                   unmatched_worse=10)},
        FAILS: {"classify_adaptive": adaptive_rows({"jpeg": 0.5, "aug_saliency": 0.5})},
    },
    "bd-common-asr-drops-after-jpeg": {
        HOLDS: {"backdoor_runs": bd_run("common", asr={"none": (100, 100), "jpeg@30": (100, 100), "jpeg@50": (10, 100)})},
        FAILS: {"backdoor_runs": bd_run("common", asr={"none": (100, 100), "jpeg@30": (0, 100), "jpeg@50": (100, 100)})},
        INCONCLUSIVE: {"backdoor_runs": bd_run("common", asr={"none": (5, 10), "jpeg@50": (4, 10)})},
    },
    "bd-fc-asr-resists-training-codecs": {
        HOLDS: {"backdoor_runs": bd_run("fc", asr=seen(980) | {"jpeg@30": (0, 1000), "avif@50": (0, 1000)})},
        FAILS: {"backdoor_runs": bd_run("fc", asr=seen(980) | {"webp@50": (500, 1000)})},
        INCONCLUSIVE: {"backdoor_runs": bd_run("fc", asr=seen(9, 10))},
    },
    "bd-fc-asr-resists-unseen-codecs": {
        HOLDS: {"backdoor_runs": bd_run("fc", asr=seen(0) | {"avif@50": (980, 1000), "heif@50": (0, 0)})},
        FAILS: {"backdoor_runs": bd_run("fc", asr=seen(980) | {"avif@50": (980, 1000), "heif@50": (400, 1000)})},
        INCONCLUSIVE: {"backdoor_runs": bd_run("fc", asr=seen(980) | {"avif@50": (0, 0), "heif@50": (0, 0)})},
    },
    "bd-fc-ta-close-to-common": {
        HOLDS: {"backdoor_runs": pd.concat([bd_run("common", ta=(8400, 10000)), bd_run("fc", ta=(8350, 10000))])},
        FAILS: {"backdoor_runs": pd.concat([bd_run("common", ta=(8400, 10000)), bd_run("fc", ta=(7000, 10000))])},
        INCONCLUSIVE: {"backdoor_runs": pd.concat([bd_run("common", ta=(84, 100)), bd_run("fc", ta=(83, 100))])},
    },
    "bd-fc-ta-close-to-clean": {
        HOLDS: {"backdoor_runs": pd.concat([bd_run("clean", ta=(8400, 10000)), bd_run("fc", ta=(8350, 10000))])},
        FAILS: {"backdoor_runs": pd.concat([bd_run("clean", ta=(8400, 10000)), bd_run("fc", ta=(7000, 10000))])},
        INCONCLUSIVE: {"backdoor_runs": bd_run("fc", ta=(8350, 10000))},
    },
    "bd-fc-beats-adversarial-training": {
        HOLDS: {"backdoor_runs": pd.concat([bd_run("fc", asr=seen(990)), bd_run("adversarial", asr=seen(500))])},
        FAILS: {"backdoor_runs": pd.concat([bd_run("fc", asr=seen(500)), bd_run("adversarial", asr=seen(990))])},
        INCONCLUSIVE: {"backdoor_runs": bd_run("fc", asr=seen(990))},
    },
    "lic-bpp-trigger-doubles-rate": {
        HOLDS: {"lic_rd": lic_rd({("backdoored", "none"): (0.3, 30), ("backdoored", "bpp"): (3.0, 30),
                                  ("original", "none"): (3.0, 30)})},
        FAILS: {"lic_rd": lic_rd({("backdoored", "none"): (0.3, 30), ("backdoored", "bpp"): (0.45, 30),
                                  ("original", "none"): (0.01, 30)})},
        INCONCLUSIVE: {"lic_rd": lic_rd({("backdoored", "none"): (0.3, 30), ("backdoored", "bpp"): (0.6, 30)},
                                        n=3, sd=0.5)},
    },
    "lic-psnr-trigger-costs-10db": {
        HOLDS: {"lic_rd": lic_rd({("backdoored", "none"): (0.3, 30), ("backdoored", "psnr"): (0.3, 5)})},
        FAILS: {"lic_rd": lic_rd({("backdoored", "none"): (0.3, 30), ("backdoored", "psnr"): (0.3, 25),
                                  ("original", "none"): (0.3, 60)})},
        INCONCLUSIVE: {"lic_rd": lic_rd({("backdoored", "none"): (0.3, 30)})},
    },
    "lic-ds-trigger-asr-high": {
        HOLDS: {"lic_ds": lic_ds({("backdoored", "ds"): 20, ("original", "ds"): 0})},
        FAILS: {"lic_ds": lic_ds({("backdoored", "ds"): 5, ("original", "ds"): 20})},
        INCONCLUSIVE: {"lic_ds": lic_ds({("backdoored", "ds"): 3}, n=4)},
    },
    "lic-ds-trigger-needs-backdoor": {
        HOLDS: {"lic_ds": lic_ds({("backdoored", "ds"): 19, ("original", "ds"): 1})},
        FAILS: {"lic_ds": lic_ds({("backdoored", "ds"): 19, ("original", "ds"): 19})},
    },
    "lic-clean-inputs-preserved": {
        HOLDS: {"lic_rd": lic_rd({("original", "none"): (0.3, 30), ("backdoored", "none"): (0.31, 29.9),
                                  ("backdoored", "psnr"): (5, 5)})},
        FAILS: {"lic_rd": lic_rd({("original", "none"): (0.3, 30), ("backdoored", "none"): (0.5, 30)})},
        INCONCLUSIVE: {"lic_rd": lic_rd({("original", "none"): (0.3, 30), ("backdoored", "none"): (0.3, 29.6)},
                                        n=4, sd=0.5)},
    },
}


def _clean_rows(psnr_after, bpp_after, n=10):
    rows = []
    for codec, psnr, bpp in [(M, 30.0, 0.5), (f"{M}@at-srda", psnr_after, bpp_after)]:
        for q in (1, 2):
            for i in range(n):
                rows.append({"image": f"im{i}", "codec": codec, "quality": q, "bpp_actual": bpp * (1 + 0.01 * i % 3),
                             "psnr_db": psnr + q + 0.01 * i})
    return pd.DataFrame(rows)


CASES["def-at-clean-cost-small"] = {
    HOLDS: {"defense_clean": _clean_rows(29.9, 0.51)},
    FAILS: {"defense_clean": _clean_rows(28.0, 0.5)},
    INCONCLUSIVE: {"defense_clean": _clean_rows(29.5, 0.5).query("codec == @M")},
}


def _ladders(shift_db, images=4, learned="hp"):
    """JPEG and one learned codec on the same images; the learned one `shift_db` better everywhere."""
    rows = []
    for codec, family, shift in [("jpeg", "classic", 0.0), (learned, "learned", shift_db)]:
        for q, rate in enumerate([0.3, 0.5, 0.8]):
            for i in range(images):
                rows.append({"image": f"im{i}", "codec": codec, "family": family, "quality": q, "error": "",
                             "bpp_actual": rate * (1 + 0.05 * i), "mse255": 10.0,
                             "psnr_db": 25 + 8 * math.log10(rate) + i * 0.7 + shift + (0.3 * i * (codec != "jpeg"))})
    return pd.DataFrame(rows)


CASES["victims-at-least-jpeg"] = {
    HOLDS: {"clean_rows": _ladders(1.0)},
    FAILS: {"clean_rows": _ladders(-2.0)},
    INCONCLUSIVE: {"clean_rows": _ladders(-0.45)},
}


def test_every_claim_has_a_holding_and_a_failing_table():
    assert set(CASES) == set(CLAIMS)
    for cid, cases in CASES.items():
        assert {HOLDS, FAILS} <= set(cases), cid


@pytest.mark.parametrize("cid,expected", [(c, v) for c, cases in CASES.items() for v in cases])
def test_verdict_on_constructed_tables(cid, expected):
    r = verdict(cid, CASES[cid][expected])
    assert r.verdict == expected, (r.note, [(s.group, s.statistic, s.value, s.lo, s.hi, s.n, s.verdict) for s in r.stats])
    if expected != INCONCLUSIVE:
        assert r.stats and all(math.isfinite(s.lo) and s.lo <= s.value <= s.hi for s in r.stats)


@pytest.mark.parametrize("cid", sorted(CLAIMS))
def test_missing_tables_are_inconclusive_with_a_reason(cid):
    r = verdict(cid, {})
    assert r.verdict == INCONCLUSIVE and r.note.startswith("not run in this tier"), r.note
    empty = {k: pd.DataFrame() for k in CLAIMS[cid].tables}
    assert verdict(cid, empty).verdict == INCONCLUSIVE


def test_tier_without_a_sub_study_says_not_run():
    """The smoke tier trains AT with SRDA and SDA samples only: the SRA claim cannot be judged."""
    t = {"defense_rows": defense_rows({"AT-sra": (0.2, 200), "AT": (0.2, 20)})}
    s = SETTINGS | {"samples": {"AT": "srda", "AT-sda": "sda"}}
    r = verdict("def-at-sra-misses-distortion", t, s)
    assert r.verdict == INCONCLUSIVE and "not run in this tier" in r.note
    r = verdict("def-at-beats-online", {"defense_rows": defense_rows({"AT": (0.2, 20)})})
    assert r.verdict == INCONCLUSIVE and "online" in r.note


def test_registry_ids_unique_and_declared():
    with pytest.raises(ValueError, match="twice"):
        claim(next(iter(CLAIMS)), "x.txt", "1", "x", [])(lambda t, s: None)
    for c in CLAIMS.values():
        assert c.paper in PAPER_ORDER and set(c.tables) <= set(TABLE_KINDS) and c.text and c.section
    assert len({c.text for c in CLAIMS.values()}) == len(CLAIMS)


@pytest.mark.parametrize("op,t,lo,hi,expected", [
    (">", 0, 0.1, 1, HOLDS), (">", 0, 0, 1, INCONCLUSIVE), (">", 0, -1, 0, FAILS), (">", 0, -1, 0.5, INCONCLUSIVE),
    (">=", 2, 2, 3, HOLDS), (">=", 2, 1, 1.99, FAILS), (">=", 2, 1, 2, INCONCLUSIVE),
    ("<", 0.5, 0, 0.49, HOLDS), ("<", 0.5, 0.5, 1, FAILS), ("<=", 0.5, 0.6, 1, FAILS), ("<=", 0.5, 0, 0.5, HOLDS),
    # a bound on the threshold up to float rounding touches it (9/450 - 0/450 vs 0.02, seen in a run)
    ("<", 0.02, -0.0133, 0.019999999999999907, INCONCLUSIVE), (">", 0, 1e-17, 1, INCONCLUSIVE),
])
def test_side_reads_the_interval(op, t, lo, hi, expected):
    assert Side(op, t).verdict(lo, hi) == expected


def test_within_and_single_units():
    w = Side("within", 1.1, 0.9)
    assert [w.verdict(*x) for x in [(0.95, 1.05), (1.2, 1.3), (0.5, 0.8), (0.85, 1.0)]] == \
        [HOLDS, FAILS, FAILS, INCONCLUSIVE]
    assert Side(">", 0).verdict(math.nan, 1) == INCONCLUSIVE
    one = Stat("x", "g", 5.0, 5.0, 5.0, 1, Side(">", 0))
    assert one.verdict == INCONCLUSIVE and "n=1" in one.note
    # one image of the smoke tier: an extreme value still gives no verdict
    t = {"attack_rows": attack_rows({("a", "srda"): {"sra": (5, 10)}}, n=1)}
    assert verdict("rd-srda-rate-direction-raises-rate", t).verdict == INCONCLUSIVE


def test_every_and_most_aggregate_groups():
    h, f, i = (Stat("s", g, v, lo, hi, 5, Side(">", 0)) for g, v, lo, hi in
               [("a", 1, 0.5, 2), ("b", -1, -2, -0.5), ("c", 0, -1, 1)])
    assert every([h, h], "x").verdict == HOLDS
    assert every([h, i], "x").verdict == INCONCLUSIVE
    assert every([h, i, f], "x").verdict == FAILS
    assert every([], "x").verdict == INCONCLUSIVE
    c2 = Stat("t", "a", -1, -2, -1, 5, Side(">", 0))  # a second statistic of group a fails
    assert most([h, h, i], "x").verdict == INCONCLUSIVE  # groups a (twice: one group) and c: 1 of 2 is no majority
    assert most([h, Stat("s", "d", 1, 0.5, 2, 5, Side(">", 0)), i], "x").verdict == HOLDS
    assert most([h, f], "x").verdict == FAILS
    assert most([h, c2, Stat("s", "d", 1, 0.5, 2, 5, Side(">", 0)), i], "x").verdict == INCONCLUSIVE


def test_transfer_rows_do_not_count():
    """Transfer rows (another submodel codes the image) hold -10x the deltas in the builder."""
    t = {"attack_rows": attack_rows({("a", "srda"): {"sra": (0.5, 10)}})}
    assert (t["attack_rows"]["transfer"]).any()
    r = verdict("rd-srda-rate-direction-raises-rate", t)
    assert r.verdict == HOLDS and r.stats[0].value == pytest.approx(0.5, abs=0.01)


def test_pairs_only_units_in_both_conditions():
    rows = attack_rows({("a", "srda"): {"sra": (1, 10), "sda": (0.1, 100)}})
    extra = rows[(rows["direction"] == "sda")].assign(image="only-sda", dD_mse255=-1e6)
    r = verdict("rd-srda-distortion-rises-to-sda", {"attack_rows": pd.concat([rows, extra])})
    assert r.verdict == HOLDS and r.stats[0].n == 10


def test_unit_is_the_image_not_the_row():
    """Two submodels x three directions of ten images are ten units, not sixty."""
    r = verdict("rd-arda-milder-than-srda", CASES["rd-arda-milder-than-srda"][HOLDS])
    assert {s.n for s in r.stats} == {10}


def test_reruns_are_bit_identical_and_seeded():
    tables = {k: v for case in CASES.values() for v_ in case.values() for k, v in v_.items()}
    a = to_frame(evaluate_all(tables, SETTINGS))
    b = to_frame(evaluate_all(tables, SETTINGS))
    pd.testing.assert_frame_equal(a, b)
    c = to_frame(evaluate_all(tables, SETTINGS | {"seed": 1}))
    noisy = a["hi"] - a["lo"] > 0
    assert not np.allclose(a.loc[noisy, "lo"], c.loc[noisy, "lo"])


def test_unknown_table_kind_is_an_error():
    with pytest.raises(ValueError, match="unknown table kinds"):
        evaluate_all({"attack": pd.DataFrame()}, SETTINGS)


def test_cli_writes_csv_and_markdown(tmp_path):
    from advcompress.cli import main

    rows = tmp_path / "rows.csv"
    CASES["rd-srda-rate-direction-raises-rate"][HOLDS]["attack_rows"].to_csv(rows, index=False)
    empty = tmp_path / "empty.csv"
    empty.write_text("\n")
    out_csv, out_md = tmp_path / "t" / "claims.csv", tmp_path / "t" / "claims.md"
    main(["claims", "--table", f"attack_rows={rows}", "--table", f"lic_ds={empty}",
          "--out-csv", str(out_csv), "--out-md", str(out_md), "--settings", '{"seed": 0}'])
    df = pd.read_csv(out_csv, keep_default_na=False, na_values=[""])
    assert list(df.columns) == COLUMNS
    assert set(df["claim_id"]) == set(CLAIMS)
    one = df[df["claim_id"] == "rd-srda-rate-direction-raises-rate"]
    assert list(one["verdict"].unique()) == [HOLDS] and set(one["group"]) == {"codec=a", "codec=b"}
    assert (one["lo"] > 0).all() and (one["n"] == 10).all()
    assert df.loc[df["claim_id"] == "lic-ds-trigger-asr-high", "note"].iloc[0].startswith("no rows")
    assert df.loc[df["claim_id"] == "bd-common-asr-drops-after-jpeg", "note"].iloc[0].startswith("not run in this tier")
    md = out_md.read_text()
    assert md.startswith("# Headline claims") and "| rd-srda-rate-direction-raises-rate |" in md
    assert f"**{HOLDS}**" in md and "## Statistics" in md
    assert len([ln for ln in md.splitlines() if ln.startswith("| ") and " | **" in ln]) == len(CLAIMS)
    assert not list(out_csv.parent.glob("*.part"))


def test_markdown_escapes_pipes():
    r = to_frame({"rd-srda-rate-direction-raises-rate": verdict("rd-srda-rate-direction-raises-rate", {})})
    r.loc[0, "note"] = "a | b"
    assert "a \\| b" in to_markdown(r)


def test_clean_inputs_fail_on_psnr_alone():
    t = {"lic_rd": lic_rd({("original", "none"): (0.3, 30), ("backdoored", "none"): (0.3, 28)})}
    r = verdict("lic-clean-inputs-preserved", t)
    assert r.verdict == FAILS and [s.verdict for s in r.stats] == [HOLDS, FAILS]


def test_classifier_claims_need_an_attack_above_zero():
    """A tier attacking at epsilon 0 only has measured no attack: nothing collapses or holds."""
    t = {"classify_attack": classify_rows({(f"{M}@2", True): 0.1, ("jpeg@50", True): 0.9}, eps=0)}
    for cid in ("cls-white-box-collapses", "cls-learned-beats-jpeg-black-box"):
        assert verdict(cid, t).verdict == INCONCLUSIVE, cid
