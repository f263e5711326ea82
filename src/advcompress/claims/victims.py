"""The premise every other claim rests on: the default tier's victims are real codecs.

An attack or defense measured on a codec that JPEG beats says little, so each run checks that
every learned codec is at least JPEG-level on the evaluation images: BD-PSNR against JPEG over
the overlapping rate range, from real bitstreams, with the paired bootstrap over images of the
`rd_bd` table (one code path for the table and the check).
"""

from __future__ import annotations

from advcompress.claims.core import Result, Side, Stat, claim, every, inconclusive
from advcompress.claims.rd_attacks import PAPER

ANCHOR = "jpeg"


@claim("victims-at-least-jpeg", PAPER, "Table I (victim codecs)",
       """Every learned codec is at least JPEG-level on the evaluation images: BD-PSNR against JPEG
       >= 0 dB over the overlapping rate range (every learned codec; no overlap is inconclusive).""",
       ["clean_rows"])
def victims_at_least_jpeg(t, s) -> Result:
    from advcompress.foundation.tables import rd_bd

    rows = t["clean_rows"]
    if ANCHOR not in set(rows["codec"]):
        return inconclusive(f"no {ANCHOR} rows: the BD anchor is not configured in this tier")
    bd = rd_bd(rows, anchor=ANCHOR, seed=int(s.get("seed", 0)))
    stats = [Stat("BD-PSNR vs JPEG [dB]", r.codec, r.bd_psnr_db, r.bd_psnr_db_lo, r.bd_psnr_db_hi,
                  int(r.n_images), Side(">=", 0.0),
                  f"overlap {r.overlap_bpp_lo:.3f}-{r.overlap_bpp_hi:.3f} bpp; BD-rate {r.bd_rate_pct:+.1f}%")
             for r in bd[bd["family"] == "learned"].itertuples()]
    return every(stats, "learned codec")
