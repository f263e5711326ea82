# RD attacks (SRDA, ARDA) on every configured codec and the multi-granularity assessment.
# One job per (codec, attack) attacks all images x directions of each submodel as batches; the
# aggregate rules draw Table II and every figure from the long-form rows.


include: "attack_common.smk"


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
        "--eval-dir {input.images:q} --checkpoints {input.ckpts:q} --rows {output.rows:q} "
        "--local {output.local:q} --latents {output.latents:q} --steps {output.steps:q} "
        "--gallery {output.gallery:q} --adv-dir {output.adv:q} --settings {params.settings:q} "
        "--threads {threads} 2> {log:q}"


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
    shell:
        "advcompress attack-table {input:q} --out-csv {output.csv:q} --out-md {output.md:q} "
        "--settings {params.settings:q} 2> {log:q}"


# Figs. 4 (SRDA) and 16 (ARDA): RD before/after per direction.
rule attack_fig_rd:
    conda:
        CONDA_ENV
    input:
        lambda w: attack_rows(w.attack),
    output:
        report(f"{OUT}/figures/attack/{{attack}}_rd.pdf", caption="../report/attack_rd.rst",
               category="attack", subcategory="RD before and after"),
    params:
        settings=lambda w: figure_settings(w.attack),
    log:
        logfile("attack_fig_rd", "{attack}"),
    shell:
        "advcompress attack-figure --kind rd {input:q} --out {output:q} --settings {params.settings:q} 2> {log:q}"


# Figs. 5 (SRDA) and 6 (ARDA): mu(dR), mu(dD) against the direction.
rule attack_fig_directions:
    conda:
        CONDA_ENV
    input:
        lambda w: attack_rows(w.attack),
    output:
        report(f"{OUT}/figures/attack/{{attack}}_directions.pdf", caption="../report/attack_directions.rst",
               category="attack", subcategory="Global deltas"),
    params:
        settings=lambda w: figure_settings(w.attack),
    log:
        logfile("attack_fig_directions", "{attack}"),
    shell:
        "advcompress attack-figure --kind directions {input:q} --out {output:q} --settings {params.settings:q} 2> {log:q}"


# Figs. 7 (SRDA) and 8 (ARDA): per-submodel deltas.
rule attack_fig_submodels:
    conda:
        CONDA_ENV
    input:
        lambda w: attack_rows(w.attack),
    output:
        report(f"{OUT}/figures/attack/{{attack}}_submodels.pdf", caption="../report/attack_submodels.rst",
               category="attack", subcategory="Global deltas"),
    params:
        settings=lambda w: figure_settings(w.attack),
    log:
        logfile("attack_fig_submodels", "{attack}"),
    shell:
        "advcompress attack-figure --kind submodels {input:q} --out {output:q} --settings {params.settings:q} 2> {log:q}"


# Figs. 9 (SRDA) and 10 (ARDA): local success ratios over thresholds.
rule attack_fig_success:
    conda:
        CONDA_ENV
    input:
        lambda w: attack_files(w.attack, "local.csv"),
    output:
        report(f"{OUT}/figures/attack/{{attack}}_success.pdf", caption="../report/attack_success.rst",
               category="attack", subcategory="Local effects"),
    params:
        settings=lambda w: figure_settings(w.attack),
    log:
        logfile("attack_fig_success", "{attack}"),
    shell:
        "advcompress attack-figure --kind success {input:q} --out {output:q} --settings {params.settings:q} 2> {log:q}"


# Figs. 12 and 18: per-channel latent ranges, clean vs adversarial.
rule attack_fig_latents:
    conda:
        CONDA_ENV
    input:
        lambda w: attack_files(w.attack, "latents.csv"),
    output:
        report(f"{OUT}/figures/attack/{{attack}}_latents.pdf", caption="../report/attack_latents.rst",
               category="attack", subcategory="Latent statistics"),
    params:
        settings=lambda w: figure_settings(w.attack),
    log:
        logfile("attack_fig_latents", "{attack}"),
    shell:
        "advcompress attack-figure --kind latents {input:q} --out {output:q} --settings {params.settings:q} 2> {log:q}"


# Figs. 19 (SRDA, one submodel) and 21 (ARDA): reconstructions under every direction.
rule attack_fig_gallery_directions:
    conda:
        CONDA_ENV
    input:
        gallery=lambda w: attack_files(w.attack, "gallery.npz"),
        rows=lambda w: attack_rows(w.attack),
    output:
        report(f"{OUT}/figures/attack/{{attack}}_gallery_directions.pdf", caption="../report/attack_gallery.rst",
               category="attack", subcategory="Galleries"),
    params:
        settings=lambda w: figure_settings(
            w.attack, image=ATK["gallery"]["image"], quality_index=gallery_quality_index(w.attack)
        ),
    log:
        logfile("attack_fig_gallery_directions", "{attack}"),
    shell:
        "advcompress attack-figure --kind gallery-directions {input.gallery:q} --rows {input.rows:q} "
        "--out {output:q} --settings {params.settings:q} 2> {log:q}"


# Figs. 20 (SRDA) and 22 (ARDA): reconstructions of every submodel under one direction.
rule attack_fig_gallery_submodels:
    conda:
        CONDA_ENV
    input:
        gallery=lambda w: attack_files(w.attack, "gallery.npz"),
        rows=lambda w: attack_rows(w.attack),
    output:
        report(f"{OUT}/figures/attack/{{attack}}_gallery_submodels.pdf", caption="../report/attack_gallery.rst",
               category="attack", subcategory="Galleries"),
    params:
        settings=lambda w: figure_settings(w.attack, image=ATK["gallery"]["image"], direction=ATK["gallery"]["direction"]),
    log:
        logfile("attack_fig_gallery_submodels", "{attack}"),
    shell:
        "advcompress attack-figure --kind gallery-submodels {input.gallery:q} --rows {input.rows:q} "
        "--out {output:q} --settings {params.settings:q} 2> {log:q}"


# Fig. 3: SRDA images crafted for one submodel, coded by every submodel.
rule attack_fig_transfer:
    conda:
        CONDA_ENV
    input:
        attack_rows("srda"),
    output:
        report(f"{OUT}/figures/attack/transfer.pdf", caption="../report/attack_transfer.rst",
               category="attack", subcategory="Transfer"),
    params:
        settings=as_json({"source_index": ATK["transfer_source_index"]}),
    log:
        logfile("attack_fig_transfer"),
    shell:
        "advcompress attack-figure --kind transfer {input:q} --out {output:q} --settings {params.settings:q} 2> {log:q}"


# Fig. 11: success/failure masks at D_T over the reconstructions, SRDA beside ARDA.
rule attack_fig_masks:
    conda:
        CONDA_ENV
    input:
        srda=lambda w: attack_files("srda", "gallery.npz"),
        arda=lambda w: attack_files("arda", "gallery.npz"),
    output:
        report(f"{OUT}/figures/attack/masks.pdf", caption="../report/attack_masks.rst",
               category="attack", subcategory="Local effects"),
    params:
        settings=as_json({"attacks": ["srda", "arda"], "direction": ATK["mask"]["direction"],
                          "threshold": ATK["mask"]["threshold_mse255"]}),
    log:
        logfile("attack_fig_masks"),
    shell:
        "advcompress attack-figure --kind masks {input.srda:q} {input.arda:q} --out {output:q} "
        "--settings {params.settings:q} 2> {log:q}"


localrules:
    attack_table2,
    attack_fig_rd,
    attack_fig_directions,
    attack_fig_submodels,
    attack_fig_success,
    attack_fig_latents,
    attack_fig_gallery_directions,
    attack_fig_gallery_submodels,
    attack_fig_transfer,
    attack_fig_masks,


study_targets("attack", [f"{OUT}/tables/attack/table2.csv", f"{OUT}/tables/attack/table2.md"])
study_targets("attack", [f"{OUT}/figures/attack/{a}_{k}.pdf" for a in ATTACK_NAMES for k in ATTACK_FIGURES])
if {"srda", "arda"} <= set(ATTACK_NAMES):
    study_targets("attack", [f"{OUT}/figures/attack/transfer.pdf", f"{OUT}/figures/attack/masks.pdf"])
