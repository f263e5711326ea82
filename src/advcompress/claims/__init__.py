"""Each paper's headline claims, checked against the long tables of every run (results/tables/claims.*).

One registry (`CLAIMS`, filled by the `@claim` decorator in the per-paper modules) maps an id to
the claim's paper, section, sentence, the long-table kinds it reads and its check function. A
check computes its statistics from those tables (never reruns anything, never knows an outcome)
with seeded bootstrap intervals; `evaluate_all` turns a missing table kind into `inconclusive: not
run in this tier`, so every tier reports every claim. See docs/claims.md.
"""

from __future__ import annotations

import math

import pandas as pd

from advcompress.claims import backdoors, compression_defenses, rd_attacks, victims  # noqa: F401  (registration)
from advcompress.claims.core import (
    CLAIMS,
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    Claim,
    Result,
    Side,
    Stat,
    claim,
)

# Long-table kinds a tier may provide, and which workflow output each is (advcompress.plan.claims.tables).
TABLE_KINDS = {
    "clean_rows": "clean coding rows per image of every codec and quality (results/clean/<codec>/q<q>.csv)",
    "attack_rows": "attack study rows (results/attack/<attack>/<codec>/rows.csv) of the attacked codecs",
    "defense_rows": "SRDA rows of every defense model with and without each defense (defense_rows)",
    "defense_clean": "clean rows of each defense model before (clean/) and after AT (defense/clean/)",
    "classify_attack": "classifier rows per image of every attack x defense (classify/<net>/attack/)",
    "classify_sequential": "classifier rows per image of sequential defenses (classify/<net>/sequential/)",
    "classify_adaptive": "adaptive-JPEG rows per image and method (classify/<net>/adaptive.csv)",
    "backdoor_runs": "the classifier-backdoor main runs: TA and ASR counts per codec (checkpoints/backdoor/runs/)",
    "lic_rd": "backdoored-LIC rows per photo, encoder and trigger (backdoor/lic/<m>/q<q>_rd.csv)",
    "lic_ds": "backdoored-LIC rows per test digit, encoder and trigger (backdoor/lic/<m>/q<q>_ds.csv)",
}

COLUMNS = ["claim_id", "paper", "section", "claim", "tables", "verdict", "note",
           "statistic", "group", "value", "lo", "hi", "n", "side", "stat_verdict", "stat_note"]

__all__ = ["CLAIMS", "COLUMNS", "FAILS", "HOLDS", "INCONCLUSIVE", "TABLE_KINDS", "Claim", "Result", "Side",
           "Stat", "claim", "evaluate", "evaluate_all", "to_frame", "to_markdown"]


def evaluate(c: Claim, tables: dict[str, pd.DataFrame], settings: dict) -> Result:
    """One claim's result; absent or empty table kinds give `inconclusive` with the reason."""
    missing = [k for k in c.tables if k not in tables]
    if missing:
        return Result(INCONCLUSIVE, [], f"not run in this tier: no {', '.join(missing)} tables")
    empty = [k for k in c.tables if tables[k].empty]
    if empty:
        return Result(INCONCLUSIVE, [], f"no rows in the {', '.join(empty)} tables")
    return c.check({k: tables[k] for k in c.tables}, settings)


# Papers in the order of the project's studies (README), so the report reads like the workflow.
PAPER_ORDER = [rd_attacks.PAPER, compression_defenses.HUMAN, compression_defenses.ADAPTIVE, backdoors.CRB,
               backdoors.LIC]


def evaluate_all(tables: dict[str, pd.DataFrame], settings: dict) -> dict[str, Result]:
    """Every registered claim, in paper order then registration order."""
    unknown = sorted(set(tables) - set(TABLE_KINDS))
    if unknown:
        raise ValueError(f"unknown table kinds {unknown}; known: {sorted(TABLE_KINDS)}")
    order = sorted(CLAIMS.values(), key=lambda c: PAPER_ORDER.index(c.paper) if c.paper in PAPER_ORDER else 99)
    return {c.id: evaluate(c, tables, settings) for c in order}


def to_frame(results: dict[str, Result]) -> pd.DataFrame:
    """One row per claim and statistic (one row with empty statistics when a claim has none)."""
    rows = []
    for cid, r in results.items():
        c = CLAIMS[cid]
        head = {"claim_id": cid, "paper": c.paper, "section": c.section, "claim": c.text,
                "tables": " ".join(c.tables), "verdict": r.verdict, "note": r.note}
        if not r.stats:
            rows.append(head | {"statistic": "", "group": "", "value": math.nan, "lo": math.nan, "hi": math.nan,
                                "n": 0, "side": "", "stat_verdict": "", "stat_note": ""})
        for s in r.stats:
            rows.append(head | {"statistic": s.statistic, "group": s.group, "value": s.value, "lo": s.lo,
                                "hi": s.hi, "n": s.n, "side": s.side.text(), "stat_verdict": s.verdict,
                                "stat_note": s.note})
    return pd.DataFrame(rows, columns=COLUMNS)


def _num(v: float) -> str:
    return "nan" if not math.isfinite(v) else format(v, ".4g")


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(df: pd.DataFrame) -> str:
    """A verdict table (one line per claim) and the statistics behind each verdict."""
    counts = df.drop_duplicates("claim_id")["verdict"].value_counts()
    lines = [
        "# Headline claims: verdicts",
        "",
        "A claim **holds** when the 95% bootstrap interval of its statistic lies wholly on the claimed "
        "side of the threshold, **fails** when it lies wholly on the other side, and is **inconclusive** "
        "otherwise (or with fewer than two units, or when this tier does not run the study). "
        + ", ".join(f"{counts.get(v, 0)} {v}" for v in (HOLDS, FAILS, INCONCLUSIVE)) + ".",
        "",
        "| claim | paper, section | claim | verdict | note |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in df.drop_duplicates("claim_id").itertuples(index=False):
        paper = r.paper.removesuffix(".txt")
        lines.append(f"| {r.claim_id} | {paper}, {_cell(r.section)} | {_cell(r.claim)} | **{r.verdict}** | "
                     f"{_cell(r.note)} |")
    lines += ["", "## Statistics", "", "| claim | statistic | group | value [95% interval] | n | claimed | verdict | note |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in df[df["statistic"] != ""].itertuples(index=False):
        lines.append(f"| {r.claim_id} | {_cell(r.statistic)} | {_cell(r.group)} | "
                     f"{_num(r.value)} [{_num(r.lo)}, {_num(r.hi)}] | {r.n} | {_cell(r.side)} | {r.stat_verdict} | "
                     f"{_cell(r.stat_note)} |")
    return "\n".join(lines) + "\n"
