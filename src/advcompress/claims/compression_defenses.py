"""Claims of "Human aligned compression for robust models" and "Protecting JPEG images against
adversarial attacks" (adaptive JPEG), from the classifier study's per-image rows.

The unit is the test image (its index in the net's evaluation subset, the same for every defense);
an image's rows over several attacks are averaged into it. `correct` is 0/1 per image.
"""

from __future__ import annotations

import pandas as pd

from advcompress.claims.core import (
    Result,
    Side,
    claim,
    every,
    finite,
    inconclusive,
    paired_stat,
    unit_means,
)

HUMAN = "human-aligned-compression-defense.txt"
ADAPTIVE = "adaptive-jpeg-defense.txt"
ITERATIVE = ("ifgsm", "pgd")  # Table 2 is iFGSM; FGSM is one step and no test of a white-box collapse
COMPARABLE_BPP = 1.25  # a learned defense is compared with JPEGs it spends at most 1.25x the bits of
COLLAPSE_DROP = 0.5  # "collapses": accuracy under attack at least 0.5 below the defended clean accuracy


def _bool(s: pd.Series) -> pd.Series:
    if s.dtype == bool:
        return s
    return s.astype(str).str.strip().str.lower().isin(["true", "1", "1.0"])


def _codec(spec: str) -> str:
    return str(spec).split("@", 1)[0]


def _at_largest_eps(rows: pd.DataFrame) -> pd.DataFrame:
    """L-inf rows at each attack's largest epsilon (> 0): the strongest attack the tier runs."""
    rows = rows[finite(rows["eps_255"]) > 0]
    if rows.empty:
        return rows
    top = rows.groupby("attack")["eps_255"].transform("max")
    return rows[rows["eps_255"] == top]


@claim("cls-learned-beats-jpeg-black-box", HUMAN, "4.2, Table 2, Fig. 2",
       """Without gradients through the defense (through = False), a learned-codec defense keeps more
       accuracy than JPEG at a comparable rate: accuracy of the learned defense minus JPEG's, paired
       over images (averaged over the L-inf attacks at their largest epsilon), > 0; compared with every
       JPEG defense whose mean bpp is at least the learned one's / 1.25; holds if every (net, learned,
       JPEG) pair holds, fails if any is wholly at or below 0.""",
       ["classify_attack"])
def learned_beats_jpeg(t: dict, s: dict) -> Result:
    cid = "cls-learned-beats-jpeg-black-box"
    rows = _at_largest_eps(t["classify_attack"])
    rows = rows[~_bool(rows["through"])] if not rows.empty else rows
    learned = set(s.get("learned", []))
    stats, skipped = [], []
    for net, g in rows.groupby("net", sort=True):
        bpp = g.assign(b=finite(g["bpp_actual"])).groupby("defense")["b"].mean()
        specs = sorted(set(g["defense"]))
        for ld in (d for d in specs if _codec(d) in learned):
            for jd in (d for d in specs if _codec(d) == "jpeg"):
                if not bpp[ld] <= COMPARABLE_BPP * bpp[jd]:
                    skipped.append(f"{net} {ld} ({bpp[ld]:.3g} bpp) vs {jd} ({bpp[jd]:.3g} bpp)")
                    continue
                a = unit_means(g[g["defense"] == ld], "image", "correct")
                b = unit_means(g[g["defense"] == jd], "image", "correct")
                stats.append(paired_stat(a, b, "accuracy learned - JPEG", f"net={net} {ld} vs {jd}",
                                         Side(">", 0), s, cid, note=f"bpp {bpp[ld]:.3g} vs {bpp[jd]:.3g}"))
    if not stats:
        why = "; not comparable: " + "; ".join(skipped) if skipped else ""
        return inconclusive(f"no (learned, JPEG) defense pair at a comparable rate, through = False{why}")
    r = every(stats, "(net, learned, JPEG) pair")
    if skipped:
        r.note += f"; left out, learned spends > {COMPARABLE_BPP}x JPEG's bpp: " + "; ".join(skipped)
    return r


@claim("cls-white-box-collapses", HUMAN, "4.2, Table 2",
       f"""With gradients through the defense (through = True), every compression defense collapses under
       iterative L-inf attacks (iFGSM, PGD) at the largest epsilon: defended clean accuracy minus
       accuracy under attack, paired over images, >= {COLLAPSE_DROP} (half the accuracy scale; the
       paper's drops are 0.7-0.9); holds if every (net, defense) holds, fails if any is wholly below.""",
       ["classify_attack"])
def white_box_collapses(t: dict, s: dict) -> Result:
    cid = "cls-white-box-collapses"
    rows = _at_largest_eps(t["classify_attack"])
    rows = rows[rows["attack"].isin(ITERATIVE) & _bool(rows["through"]) & (rows["defense"] != "none")] \
        if not rows.empty else rows
    if rows.empty:
        return inconclusive("not run in this tier: no iterative L-inf attack with through = True")
    stats = []
    for (net, d), g in rows.groupby(["net", "defense"], sort=True):
        stats.append(paired_stat(unit_means(g, "image", "correct_clean"), unit_means(g, "image", "correct"),
                                 "clean accuracy - attacked accuracy", f"net={net} {d}",
                                 Side(">=", COLLAPSE_DROP), s, cid))
    return every(stats, "(net, defense)")


@claim("cls-white-box-weaker-than-black-box", HUMAN, "4.2, Fig. 2",
       """Attacking through the defense weakens every compression defense: accuracy with through = False
       minus with through = True, paired over images (averaged over the L-inf attacks at their largest
       epsilon), > 0; holds if every (net, defense) holds, fails if any is wholly at or below 0.""",
       ["classify_attack"])
def white_box_weaker(t: dict, s: dict) -> Result:
    cid = "cls-white-box-weaker-than-black-box"
    rows = _at_largest_eps(t["classify_attack"])
    rows = rows[rows["defense"] != "none"] if not rows.empty else rows
    stats = []
    for (net, d), g in rows.groupby(["net", "defense"], sort=True):
        thr = _bool(g["through"])
        if not thr.any() or thr.all():
            continue
        stats.append(paired_stat(unit_means(g[~thr], "image", "correct"), unit_means(g[thr], "image", "correct"),
                                 "accuracy black-box - white-box", f"net={net} {d}", Side(">", 0), s, cid))
    if not stats:
        return inconclusive("not run in this tier: no defense attacked both with and without gradients through it")
    return every(stats, "(net, defense)")


@claim("cls-sequential-rounds-raise-robustness", HUMAN, "4.5, Figs. 8-10",
       """Sequential compression raises robustness with the number of rounds N: accuracy under the
       sequential study's attack (through the defense, largest epsilon) after the most rounds minus
       after the fewest, paired over images, > 0; holds if every (net, codec) holds, fails if any is
       wholly at or below 0.""",
       ["classify_sequential"])
def sequential_rounds(t: dict, s: dict) -> Result:
    cid = "cls-sequential-rounds-raise-robustness"
    rows = _at_largest_eps(t["classify_sequential"])
    if rows.empty:
        return inconclusive("no sequential rows at epsilon > 0")
    parts = rows["defense"].astype(str).str.extract(r"^(?P<base>.+?)(?:x(?P<rounds>\d+))?$")
    rows = rows.assign(base=parts["base"], rounds=pd.to_numeric(parts["rounds"]).fillna(1).astype(int))
    stats = []
    for (net, base), g in rows.groupby(["net", "base"], sort=True):
        lo, hi = g["rounds"].min(), g["rounds"].max()
        if lo == hi:
            continue
        stats.append(paired_stat(unit_means(g[g["rounds"] == hi], "image", "correct"),
                                 unit_means(g[g["rounds"] == lo], "image", "correct"),
                                 f"accuracy N={hi} - N={lo}", f"net={net} {base}", Side(">", 0), s, cid))
    if not stats:
        return inconclusive("not run in this tier: one number of rounds only")
    return every(stats, "(net, codec)")


def _adaptive(t: dict, s: dict, cid: str, side: Side) -> Result:
    rows = t["classify_adaptive"]
    stats = []
    for net, g in rows.groupby("net", sort=True):
        aug = g[g["method"] == "aug_saliency"]
        matched = aug[_bool(aug["size_matched"])]["image"]
        jpeg = g[(g["method"] == "jpeg") & g["image"].isin(matched)]
        stats.append(paired_stat(unit_means(aug[aug["image"].isin(matched)], "image", "correct"),
                                 unit_means(jpeg, "image", "correct"),
                                 "accuracy adaptive - plain JPEG", f"net={net}", side, s, cid,
                                 note=f"{len(matched)} of {aug['image'].nunique()} images size-matched"))
    return every(stats, "net")


@claim("ajpeg-not-worse-than-jpeg", ADAPTIVE, "3, Fig. 2(a)",
       """Saliency-guided (augmented-saliency) JPEG keeps at least the accuracy of plain JPEG at a matched
       file size: accuracy difference, paired over the images whose adaptive file is size-matched,
       >= 0; holds if every net's interval is at or above 0, fails if any is wholly below 0.""",
       ["classify_adaptive"])
def adaptive_not_worse(t: dict, s: dict) -> Result:
    return _adaptive(t, s, "ajpeg-not-worse-than-jpeg", Side(">=", 0))


@claim("ajpeg-improves-on-jpeg", ADAPTIVE, "Abstract, 3, Fig. 2(a)",
       """The paper's stronger form: augmented-saliency JPEG improves accuracy over plain JPEG at a matched
       file size: the same paired difference > 0 for every net (fails if any is wholly at or below 0).""",
       ["classify_adaptive"])
def adaptive_improves(t: dict, s: dict) -> Result:
    return _adaptive(t, s, "ajpeg-improves-on-jpeg", Side(">", 0))

