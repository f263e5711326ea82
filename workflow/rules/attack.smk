# RD attacks (SRDA, ARDA) on every configured codec and the multi-granularity assessment.
# One job per (codec, attack) attacks all images x directions of each submodel as batches; the
# aggregate rules draw Table II and every figure from the long-form rows.


include: "attack_common.smk"
include: "figures_common.smk"


wildcard_constraints:
    attack="srda|arda|sra|sda",


rule attack_run:
    conda:
        CONDA_ENV
    input:
        images=f"{DATA}/eval",
        ckpts=attack_checkpoints,
    output:
        rows=attack_out("{attack}", "{model}", "rows.csv"),
        local=attack_out("{attack}", "{model}", "local.csv"),
        latents=attack_out("{attack}", "{model}", "latents.csv"),
        steps=attack_out("{attack}", "{model}", "steps.csv"),
        gallery=attack_out("{attack}", "{model}", "gallery.npz"),
        adv=directory(attack_out("{attack}", "{model}", "adv")),
    params:
        settings=lambda w: as_json(attack_settings(w)),
        ckpts=lambda w: model_ckpt_args(w.model),
    wildcard_constraints:
        # defense.smk: also every learned codec and the codecs derived from them (<model>@at-<kind>,
        # <codec>+online) that a later stage registers in ATTACK_TARGETS; attack_target rejects others.
        model=derived_codecs_pattern([*ATTACK_MODELS, *LEARNED]),
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda w, attempt: ATK["mem_mb"] * attempt,
    retries: 1
    log:
        logfile("attack_run", "{attack}_{model}"),
    benchmark:
        benchfile("attack_run", "{attack}_{model}")
    shell:
        "advcompress attack-run --attack {wildcards.attack:q} --model {wildcards.model:q} "
        "--eval-dir {input.images:q} {params.ckpts} --rows {output.rows:q} "
        "--local {output.local:q} --latents {output.latents:q} --steps {output.steps:q} "
        "--gallery {output.gallery:q} --adv-dir {output.adv:q} --settings {params.settings:q} "
        "--threads {threads} > {log:q} 2>&1"


if TAU is not None:

    # ARDA at each temperature of attack.tau_ablation on one codec's submodels (figure arda_tau).
    rule attack_tau:
        conda:
            CONDA_ENV
        input:
            images=f"{DATA}/eval",
            ckpts=lambda w: model_checkpoints(TAU["model"]),
        output:
            rows=attack_out("tau_ablation", TAU["model"], "rows.csv"),
        params:
            model=TAU["model"],
            settings=as_json(tau_ablation_settings()),
            ckpts=model_ckpt_args(TAU["model"]),
        threads: 1
        resources:
            gpu=1,
            mem_mb=lambda w, attempt: ATK["mem_mb"] * attempt,
        retries: 1
        log:
            logfile("attack_tau", TAU["model"]),
        benchmark:
            benchfile("attack_tau", TAU["model"])
        shell:
            "advcompress attack-tau --model {params.model:q} --eval-dir {input.images:q} "
            "{params.ckpts} --rows {output.rows:q} --settings {params.settings:q} "
            "--threads {threads} > {log:q} 2>&1"


rule attack_table2:
    conda:
        CONDA_ENV
    input:
        [r for a in ATTACK_NAMES for r in attack_rows(a)],
    output:
        csv=report(f"{OUT}/tables/attack/table2.csv", caption="../report/attack_table2.rst",
                   category="attack", subcategory="Global deltas"),
        md=f"{OUT}/tables/attack/table2.md",
    params:
        settings=as_json({"seed": config["seed"]}),
    log:
        logfile("attack_table2"),
    benchmark:
        benchfile("attack_table2")
    shell:
        "advcompress attack-table {input:q} --out-csv {output.csv:q} --out-md {output.md:q} "
        "--settings {params.settings:q} > {log:q} 2>&1"


# Every figure of the study (Figs. 3-12, 16, 18-22), as advcompress.attack_figures registers them:
# attack_figure draws figures/attack/<stem>.pdf, <attack>_<figure> or, for transfer and masks, <figure>.
figure_rule("attack", ATTACK_FIGURE_PLAN, attack_figure_inputs, attack_figure_settings)


localrules:
    attack_table2,


study_targets("attack", [f"{OUT}/tables/attack/table2.csv", f"{OUT}/tables/attack/table2.md"])
study_targets("attack", figure_files("attack", ATTACK_FIGURE_PLAN))
