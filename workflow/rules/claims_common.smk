# Lookups of the claims step (claims.smk includes this first). No rules here, no science: which long
# tables this tier writes, by kind (advcompress.claims.TABLE_KINDS), from the other stages' planning
# variables. Read lazily: the stage files that define them are included after this one.


def claims_tables():
    """{kind: [long tables]} of the studies this tier runs; a kind without files is left out, and its
    claims say `inconclusive: not run in this tier`."""
    kinds = {
        "clean_rows": CLEAN_TABLES,
        "attack_rows": [r for a in ATTACK_NAMES for r in attack_rows(a)],
        "defense_rows": defense_rows("srda", sorted({lab["defense"] for lab in defense_labels().values()})),
        "defense_clean": clean_rd_inputs(),
        "classify_attack": ATTACK_TABLES,
        "classify_sequential": CLS_INPUTS["sequential"],
        "classify_adaptive": CLS_INPUTS["adaptive"],
        "backdoor_runs": [*bd_run_tables("main"), BD_CLEAN_TA] if bd_run_tables("main") else [],
        "lic_rd": bd_lic_tables("rd"),
        "lic_ds": bd_lic_tables("ds"),
    }
    return {k: sorted(set(v)) for k, v in kinds.items() if v}


def claims_inputs(wildcards):
    return claims_tables()


def claims_table_args(wildcards):
    """One `--table kind=path` per file, each quoted."""
    return " ".join(f"--table {shlex.quote(f'{k}={p}')}" for k, ps in claims_tables().items() for p in ps)


def claims_settings(wildcards):
    """What the checks need from the config: defense labels, AT sample kinds, which attacked codecs
    are variable-rate, the learned codec names, the backdoor's test codecs."""
    return as_json({
        "seed": config["seed"],
        "labels": defense_labels(),
        "samples": table3_samples(),
        "variable_rate": {m: is_variable_rate(m) for m in ATTACK_MODELS if m in LEARNED},
        "learned": sorted(LEARNED),
        "test_codecs": BD["test_codecs"],
    })
