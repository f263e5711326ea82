"""The claims step's plan: which long tables this tier writes, by kind (advcompress.claims.TABLE_KINDS),
from the other studies' plans, and what the checks read of the config."""

from __future__ import annotations

from advcompress.codecs.catalog import is_variable_rate
from advcompress.plan import attack, backdoor, classify, defense, foundation
from advcompress.plan.core import job_key, learned, results


def tables(cfg: dict) -> dict[str, list[str]]:
    """{kind: [long tables]} of the studies this tier runs; a kind without files is left out, and its
    claims say `inconclusive: not run in this tier`."""
    cls = classify.table_inputs(cfg)
    main_runs = backdoor.run_tables(cfg, "main")
    kinds = {
        "clean_rows": foundation.clean_tables(cfg),
        "attack_rows": attack.table2_inputs(cfg),
        "defense_rows": defense.rows(cfg, "srda", defense.all_labels(cfg)),
        "defense_clean": defense.clean_rd_inputs(cfg),
        "classify_attack": classify.attack_tables(cfg),
        "classify_sequential": cls["sequential"],
        "classify_adaptive": cls["adaptive"],
        "backdoor_runs": [*main_runs, backdoor.clean_ta(cfg)] if main_runs else [],
        "lic_rd": backdoor.lic_tables(cfg, "rd"),
        "lic_ds": backdoor.lic_tables(cfg, "ds"),
    }
    return {k: sorted(set(v)) for k, v in kinds.items() if v}


def table_arguments(cfg: dict) -> list[str]:
    """One `kind=path` per file (the command's `--table` arguments)."""
    return [f"{k}={p}" for k, ps in tables(cfg).items() for p in ps]


def settings(cfg: dict) -> dict:
    """What the checks need from the config: defense labels, AT sample kinds, which attacked codecs
    are variable-rate, the learned codec names, the backdoor's test codecs."""
    return {
        "seed": cfg["seed"],
        "labels": defense.labels(cfg),
        "samples": defense.table3_samples(cfg),
        "variable_rate": {m: is_variable_rate(m) for m in attack.models(cfg) if m in learned(cfg)},
        "learned": sorted(learned(cfg)),
        "test_codecs": cfg["backdoor"]["test_codecs"],
    }


def targets(cfg: dict) -> list[str]:
    return [f"{results(cfg)}/tables/claims.csv", f"{results(cfg)}/tables/claims.md"]


def jobs(cfg: dict) -> dict:
    return {job_key("claims_table"): settings(cfg)}
