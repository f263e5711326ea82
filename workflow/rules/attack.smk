# RD attacks (SRDA, ARDA) on every configured codec and the multi-granularity assessment.
# One job per (codec, attack) attacks all images x directions of each submodel as batches; the
# aggregate rules draw Table II and every figure from the long-form rows.


rule attack_run:
    conda:
        CONDA_ENV
    input:
        images=f"{DATA}/eval",
        ckpts=lambda w: plan.attack.checkpoints(config, w.victim),
    output:
        rows=attack_run_file("rows.csv"),
        local=attack_run_file("local.csv"),
        latents=attack_run_file("latents.csv"),
        steps=attack_run_file("steps.csv"),
        gallery=attack_run_file("gallery.npz"),
        adv=directory(attack_run_file("adv")),
    params:
        settings=lambda w: as_json(plan.attack.run_settings(config, w.victim)),
        ckpts=lambda w: plan.attack.ckpt_args(config, w.victim),
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda w, attempt: config["attack"]["mem_mb"] * attempt,
    retries: 1
    log:
        logfile("attack_run", "{attack}_{victim}"),
    benchmark:
        benchfile("attack_run", "{attack}_{victim}")
    shell:
        "advcompress attack-run --attack {wildcards.attack:q} --model {wildcards.victim:q} "
        "--eval-dir {input.images:q} {params.ckpts} --rows {output.rows:q} "
        "--local {output.local:q} --latents {output.latents:q} --steps {output.steps:q} "
        "--gallery {output.gallery:q} --adv-dir {output.adv:q} --settings {params.settings:q} "
        "--threads {threads} > {log:q} 2>&1"


TAU = plan.attack.tau_ablation(config)
if TAU is not None:

    # ARDA at each temperature of attack.tau_ablation on one codec's submodels (figure arda_tau).
    rule attack_tau:
        conda:
            CONDA_ENV
        input:
            images=f"{DATA}/eval",
            ckpts=plan.attack.checkpoints(config, TAU["model"]),
        output:
            rows=plan.core.attack_out(config, "tau_ablation", TAU["model"], "rows.csv"),
        params:
            model=TAU["model"],
            settings=as_json(plan.attack.tau_settings(config)),
            ckpts=plan.attack.ckpt_args(config, TAU["model"]),
        threads: 1
        resources:
            gpu=1,
            mem_mb=lambda w, attempt: config["attack"]["mem_mb"] * attempt,
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
        plan.attack.table2_inputs(config),
    output:
        csv=report(f"{OUT}/tables/attack/table2.csv", caption="../report/attack_table2.rst",
                   category="attack", subcategory="Global deltas"),
        md=f"{OUT}/tables/attack/table2.md",
    params:
        settings=as_json(plan.core.seed_only(config)),
    log:
        logfile("attack_table2"),
    benchmark:
        benchfile("attack_table2")
    shell:
        "advcompress attack-table {input:q} --out-csv {output.csv:q} --out-md {output.md:q} "
        "--settings {params.settings:q} > {log:q} 2>&1"


# Every figure of the study (Figs. 3-12, 16, 18-22), as advcompress.attack.figures registers them:
# attack_figure draws figures/attack/<stem>.pdf, <attack>_<figure> or, for transfer and masks, <figure>.
figure_rule("attack", plan.attack.figure_plan(config), plan.attack.figure_inputs, plan.attack.figure_settings)


localrules:
    attack_table2,
