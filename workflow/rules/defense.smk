# Defenses of learned codecs (paper Sec. VI, VII.E, App. C): adversarial training (AT) and online
# updating. A defended codec is a codec name (<model>@at-<samples>, <model>+online,
# <model>@at-<samples>+online) that advcompress.plan.defense.attack_targets describes, so the attack
# study's own attack_run job attacks and assesses it; the rules here fine-tune, aggregate and draw.


rule defense_train_at:
    conda:
        CONDA_ENV
    input:
        train=f"{DATA}/train",
        init=lambda w: plan.core.checkpoint(config, w.model, w.quality),
    output:
        ckpt=f"{CKPT}/codecs/{{model}}@at-{{samples}}/q{{quality}}.pt",
        meta=f"{CKPT}/codecs/{{model}}@at-{{samples}}/q{{quality}}.json",
    params:
        settings=lambda w: as_json(plan.defense.at_train_settings(config, w.model, w.samples, w.quality)),
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda w, attempt: config["defense"]["at"]["mem_mb"] * attempt,
    retries: 1
    log:
        logfile("defense_train_at", "{model}_{samples}_q{quality}"),
    benchmark:
        benchfile("defense_train_at", "{model}_{samples}_q{quality}")
    shell:
        "advcompress defense-train --model {wildcards.model:q} --samples {wildcards.samples:q} "
        "--train-dir {input.train:q} --init {input.init:q} --out {output.ckpt:q} "
        "--settings {params.settings:q} --threads {threads} > {log:q} 2>&1"


# Fig. 15 needs the fine-tuned codecs' clean RD on the whole evaluation set: the foundation's
# `compress` command, as compress_clean runs it for the codecs of codecs.learned.
rule defense_clean:
    conda:
        CONDA_ENV
    input:
        images=f"{DATA}/eval",
        ckpt=lambda w: plan.defense.at_checkpoint(config, w.model, w.samples, w.quality),
    output:
        table=plan.defense.clean_out(config, "{model}", "{samples}", "{quality}"),
    params:
        settings=lambda w: as_json(plan.defense.at_settings(config, w.model)),
        codec=lambda w: plan.defense.at_codec(w.model, w.samples),
        ckpt=lambda w, input: codec_ckpt_arg(plan.defense.at_codec(w.model, w.samples), w.quality, input.ckpt),
    threads: 1
    resources:
        mem_mb=2000,
    log:
        logfile("defense_clean", "{model}_{samples}_q{quality}"),
    benchmark:
        benchfile("defense_clean", "{model}_{samples}_q{quality}")
    shell:
        "advcompress compress --codec {params.codec:q} --quality {wildcards.quality:q} "
        "--eval-dir {input.images:q} {params.ckpt} --out {output.table:q} "
        "--settings {params.settings:q} --threads {threads} > {log:q} 2>&1"


rule defense_table3:
    conda:
        CONDA_ENV
    input:
        plan.defense.table3_inputs(config),
    output:
        summary=f"{OUT}/tables/defense/robustness_srda.csv",
        csv=report(f"{OUT}/tables/defense/table3.csv", caption="../report/defense_table3.rst",
                   category="defense", subcategory="Robustness after defenses"),
        md=f"{OUT}/tables/defense/table3.md",
    params:
        settings=as_json(plan.defense.table3_settings(config)),
    log:
        logfile("defense_table3"),
    benchmark:
        benchfile("defense_table3")
    shell:
        "advcompress defense-table {input:q} --out-summary {output.summary:q} --out-csv {output.csv:q} "
        "--out-md {output.md:q} --settings {params.settings:q} > {log:q} 2>&1"


# Every figure of the study (Figs. 13-15, 17), as advcompress.defense.figures registers them:
# defense_figure draws figures/defense/<stem>.pdf (improvement_<attack>, combined_srda, clean_rd_at).
figure_rule("defense", plan.defense.figure_plan(config), plan.defense.figure_inputs, plan.defense.figure_settings)


localrules:
    defense_table3,
