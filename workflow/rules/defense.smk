# Defenses of learned codecs (paper Sec. VI, VII.E, App. C): adversarial training (AT) and online
# updating. A defended codec is a codec name (<model>@at-<samples>, <model>+online,
# <model>@at-<samples>+online) registered in the attack stage's ATTACK_TARGETS, so the attack
# study's own attack_run job attacks and assesses it; the rules here fine-tune, aggregate and draw.


include: "defense_common.smk"


rule defense_train_at:
    conda:
        CONDA_ENV
    input:
        train=f"{DATA}/train",
        init=lambda w: checkpoint(w.model, w.quality),
    output:
        ckpt=f"{CKPT}/codecs/{{model}}@at-{{defense}}/q{{quality}}.pt",
        meta=f"{CKPT}/codecs/{{model}}@at-{{defense}}/q{{quality}}.json",
    params:
        settings=lambda w: as_json(at_train_settings(w)),
    wildcard_constraints:
        model=_alternation(DEFENSE_MODELS),
        defense=_alternation(AT_SAMPLES),
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda w, attempt: DEF["at"]["mem_mb"] * attempt,
    retries: 1
    log:
        logfile("defense_train_at", "{model}_{defense}_q{quality}"),
    benchmark:
        benchfile("defense_train_at", "{model}_{defense}_q{quality}")
    shell:
        "advcompress defense-train --model {wildcards.model:q} --samples {wildcards.defense:q} "
        "--train-dir {input.train:q} --init {input.init:q} --out {output.ckpt:q} "
        "--settings {params.settings:q} --threads {threads} 2> {log:q}"


# Fig. 15 needs the fine-tuned codecs' clean RD on the whole evaluation set: the foundation's
# `compress` command, as compress_clean runs it for the codecs of codecs.learned.
rule defense_clean:
    conda:
        CONDA_ENV
    input:
        images=f"{DATA}/eval",
        ckpt=lambda w: at_checkpoint(w.model, w.defense, w.quality),
    output:
        table=f"{OUT}/defense/clean/{{model}}@at-{{defense}}/q{{quality}}.csv",
    params:
        settings=lambda w: as_json(_at_settings(w.model)),
        codec=lambda w: at_codec(w.model, w.defense),
    wildcard_constraints:
        model=_alternation(DEFENSE_MODELS),
        defense=_alternation(AT_SAMPLES),
    threads: 1
    resources:
        mem_mb=2000,
    log:
        logfile("defense_clean", "{model}_{defense}_q{quality}"),
    benchmark:
        benchfile("defense_clean", "{model}_{defense}_q{quality}")
    shell:
        "advcompress compress --codec {params.codec:q} --quality {wildcards.quality:q} "
        "--eval-dir {input.images:q} --checkpoint {input.ckpt:q} --out {output.table:q} "
        "--settings {params.settings:q} --threads {threads} 2> {log:q}"


rule defense_table3:
    conda:
        CONDA_ENV
    input:
        lambda w: defense_rows("srda", ["none", *table3_samples(), "online", "AT + online"]),
    output:
        summary=f"{OUT}/tables/defense/robustness_srda.csv",
        csv=report(f"{OUT}/tables/defense/table3.csv", caption="../report/defense_table3.rst",
                   category="defense", subcategory="Robustness after defenses"),
        md=f"{OUT}/tables/defense/table3.md",
    params:
        settings=lambda w: as_json({"labels": defense_labels(), "samples": table3_samples(), "seed": config["seed"]}),
    log:
        logfile("defense_table3"),
    shell:
        "advcompress defense-table {input:q} --out-summary {output.summary:q} --out-csv {output.csv:q} "
        "--out-md {output.md:q} --settings {params.settings:q} 2> {log:q}"


# Figs. 13 (SRDA) and 14 (ARDA): robustness before and after AT and online updating.
rule defense_fig_improvement:
    conda:
        CONDA_ENV
    input:
        lambda w: defense_rows(w.attack, ["none", "AT", "online"]),
    output:
        report(
            f"{OUT}/figures/defense/improvement_{{attack}}.pdf",
            caption="../report/defense_improvement.rst",
            category="defense",
            subcategory="Robustness after defenses",
        ),
    params:
        settings=lambda w: bars_settings(
            w.attack, ["none", "AT", "online"], f"{w.attack.upper()}: before and after the defenses"
        ),
    wildcard_constraints:
        attack=_alternation(DEFENSE_ATTACKS),
    log:
        logfile("defense_fig_improvement", "{attack}"),
    shell:
        "advcompress defense-figure --kind bars {input:q} --out {output:q} --settings {params.settings:q} 2> {log:q}"


# Fig. 17: AT, online and AT + online against SRDA.
rule defense_fig_combined:
    conda:
        CONDA_ENV
    input:
        defense_rows("srda", ["none", "AT", "online", "AT + online"]),
    output:
        report(
            f"{OUT}/figures/defense/combined_srda.pdf",
            caption="../report/defense_combined.rst",
            category="defense",
            subcategory="Robustness after defenses",
        ),
    params:
        settings=bars_settings("srda", ["none", "AT", "online", "AT + online"], "SRDA: AT, online and both"),
    log:
        logfile("defense_fig_combined"),
    shell:
        "advcompress defense-figure --kind bars {input:q} --out {output:q} --settings {params.settings:q} 2> {log:q}"


# Fig. 15: clean RD before and after AT (whole evaluation set, real bitstreams).
rule defense_fig_clean_rd:
    conda:
        CONDA_ENV
    input:
        clean_rd_inputs(),
    output:
        report(
            f"{OUT}/figures/defense/clean_rd_at.pdf",
            caption="../report/defense_clean_rd.rst",
            category="defense",
            subcategory="Clean RD after AT",
        ),
    params:
        settings=as_json({"labels": defense_labels(), "title": "Clean RD before and after AT"}),
    log:
        logfile("defense_fig_clean_rd"),
    shell:
        "advcompress defense-figure --kind clean-rd {input:q} --out {output:q} --settings {params.settings:q} 2> {log:q}"


localrules:
    defense_table3,
    defense_fig_improvement,
    defense_fig_combined,
    defense_fig_clean_rd,


study_targets(
    "defense",
    [
        f"{OUT}/tables/defense/table3.csv",
        f"{OUT}/tables/defense/table3.md",
        f"{OUT}/figures/defense/combined_srda.pdf",
        f"{OUT}/figures/defense/clean_rd_at.pdf",
    ]
    + [f"{OUT}/figures/defense/improvement_{a}.pdf" for a in DEFENSE_ATTACKS]
)
