"""The defense study's tables (Table III, the robustness summary the figures draw), from the attack
study's rows (pandas only, so table and figure jobs start without torch).

Every defended codec is attacked by the attack study's own job, so its rows have the same columns
as the undefended model's. `labels` maps each codec name in the rows to its base model and the
defense it carries ("none", "AT", "online", "AT + online"; AT with SRA/SDA/SRDA samples for
Table III). mu-bar is the mean over directions of the mean over submodels of the per-image deltas
(the attack study's `per_direction`), so invalid rows are counted (`n_invalid`), never averaged.
Each mu-bar carries its 95% bootstrap interval over images (whole images resampled with all their
directions and submodels) and `n_images`; the bar figures draw exactly those intervals.
"""

from __future__ import annotations

import pandas as pd

from advcompress.attack.tables import DELTAS, delta_intervals, mu_columns, per_direction

MU = [f"mu_{d}" for d in DELTAS]


def robustness(rows: pd.DataFrame, labels: dict[str, dict], seed: int = 0) -> pd.DataFrame:
    """One row per (base model, defense, attack): mu-bar of dR (actual, estimated) and dD, each with
    its interval over images (`_lo`, `_hi`), and `n_images`."""
    unknown = set(rows["model"]) - set(labels)
    if unknown:
        raise ValueError(f"rows of codecs without a defense label: {sorted(unknown)}")
    pdir = per_direction(rows, seed)
    g = pdir.groupby(["model", "attack"], sort=False)
    out = g[MU].mean().join(g[["n_rows", "n_invalid"]].sum()).reset_index()
    ci = delta_intervals(rows, ["model", "attack"], ["direction", "quality"], seed, prefix="mu_")
    out = out.merge(ci, on=["model", "attack"], how="left")
    out = out[["model", "attack", *mu_columns(), "n_images", "n_rows", "n_invalid"]].rename(columns={"model": "codec"})
    out.insert(0, "defense", out["codec"].map(lambda c: labels[c]["defense"]))
    out.insert(0, "model", out["codec"].map(lambda c: labels[c]["model"]))
    return out


def table3(summary: pd.DataFrame, samples: dict[str, str]) -> pd.DataFrame:
    """Table III: mu-bar(dR), mu-bar(dD) under SRDA after AT with each kind of samples, per model.

    `samples` maps the defense label of each AT variant to its sample kind (e.g. "AT-sra" -> "sra");
    the column groups are named `at_<kind>_...`, after a `none_...` group (before AT) for reference.
    """
    groups = {"none": "none"} | {label: f"at_{kind}" for label, kind in samples.items()}
    s = summary[(summary["attack"] == "srda") & summary["defense"].isin(groups)]
    cols = [*mu_columns(), "n_images", "n_rows", "n_invalid"]
    out = None
    for label, prefix in groups.items():
        part = s[s["defense"] == label].set_index("model")[cols].add_prefix(f"{prefix}_")
        out = part if out is None else out.join(part, how="outer")
    return out.reset_index()
