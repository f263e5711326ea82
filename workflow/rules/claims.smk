# Each paper's headline claims checked on this run's long tables: holds, fails or inconclusive from
# seeded bootstrap intervals (science in advcompress.claims; docs/claims.md).


rule claims_table:
    conda:
        CONDA_ENV
    input:
        unpack(lambda w: plan.claims.tables(config)),
    output:
        csv=report(f"{OUT}/tables/claims.csv", caption="../report/claims.rst", category="claims",
                   subcategory="Headline claims of the five papers"),
        md=f"{OUT}/tables/claims.md",
    params:
        tables=" ".join(f"--table {shlex.quote(arg)}" for arg in plan.claims.table_arguments(config)),
        settings=as_json(plan.claims.settings(config)),
    log:
        logfile("claims_table"),
    benchmark:
        benchfile("claims_table")
    shell:
        "advcompress claims {params.tables} --out-csv {output.csv:q} --out-md {output.md:q} "
        "--settings {params.settings:q} > {log:q} 2>&1"


localrules:
    claims_table,
