# Backdoors and compression (issue 6): the compression-resistant classifier backdoor on digits
# and the backdoored LIC encoder fired by a learned frequency trigger. Science in advcompress.backdoor.


BD_OUT = plan.backdoor.out_dir(config)
BD_CKPT = plan.backdoor.ckpt_out(config)  # what the backdoor training jobs write (with every training output: CKPT)
BD_IMAGES = plan.backdoor.images(config)  # the classification data: photo patches, digits or cifar10
BD_RUNS = plan.backdoor.runs(config)


# -- compression-resistant classifier backdoor ------------------------------------------------------


# {bd_clean}: clean (the main architecture, backdoor.archs[0]) or clean-<arch> (Table 4's others)
rule backdoor_clean_classifier:
    conda:
        CONDA_ENV
    input:
        digits=BD_IMAGES,
    output:
        model=f"{BD_CKPT}/classifier/{{bd_clean}}.pt",
        ta=f"{BD_CKPT}/classifier/{{bd_clean}}_ta.csv",
    params:
        settings=lambda w: as_json(plan.backdoor.clean_settings(config, w.bd_clean)),
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda w, attempt: 1500 * attempt,
    retries: 1
    log:
        logfile("backdoor_clean_classifier", "{bd_clean}"),
    benchmark:
        benchfile("backdoor_clean_classifier", "{bd_clean}")
    shell:
        "advcompress backdoor-clean-classifier --digits {input.digits:q} --out {output.model:q} "
        "--table {output.ta:q} "
        "--settings {params.settings:q} --threads {threads} > {log:q} 2>&1"


# {trigger}: a trigger of backdoor.triggers, or <trojannn trigger>-<arch> (optimised on that clean net)
rule backdoor_trigger:
    conda:
        CONDA_ENV
    input:
        digits=BD_IMAGES,
        classifier=lambda w: plan.backdoor.trigger_classifier(config, w.trigger),
    output:
        blob=f"{BD_CKPT}/triggers/{{trigger}}.pt",
        preview=f"{BD_CKPT}/triggers/{{trigger}}.png",
    params:
        name=lambda w: plan.backdoor.trigger_stems(config)[w.trigger][0],
        settings=lambda w: as_json(plan.backdoor.trigger_settings(config, w.trigger)),
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda w, attempt: 1500 * attempt,
    retries: 1
    log:
        logfile("backdoor_trigger", "{trigger}"),
    benchmark:
        benchfile("backdoor_trigger", "{trigger}")
    shell:
        "advcompress backdoor-trigger --trigger {params.name:q} --digits {input.digits:q} "
        "--classifier {input.classifier:q} --out {output.blob:q} --preview {output.preview:q} "
        "--settings {params.settings:q} --threads {threads} > {log:q} 2>&1"


rule backdoor_train:
    conda:
        CONDA_ENV
    input:
        digits=BD_IMAGES,
        classifier=lambda w: plan.backdoor.clean_model(config, BD_RUNS[w.run]["arch"]),
        trigger=lambda w: plan.backdoor.trigger_file(config, w.run),
    output:
        model=f"{BD_CKPT}/runs/{{run}}.pt",
        table=f"{BD_CKPT}/runs/{{run}}.csv",
    params:
        settings=lambda w: as_json(plan.backdoor.train_settings(config, w.run)),
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda w, attempt: 2000 * attempt,
    retries: 1
    log:
        logfile("backdoor_train", "{run}"),
    benchmark:
        benchfile("backdoor_train", "{run}")
    shell:
        "advcompress backdoor-train --run {wildcards.run:q} --digits {input.digits:q} "
        "--classifier {input.classifier:q} --trigger {input.trigger:q} --out {output.model:q} "
        "--table {output.table:q} --settings {params.settings:q} --threads {threads} > {log:q} 2>&1"


# -- backdoored LIC encoder ---------------------------------------------------------------------------


lic_train_rule("backdoor_lic_train", "",
               lambda cfg, m: plan.backdoor.lic_settings(cfg, m, plan.backdoor.LIC_TRAIN_KEYS))
lic_eval_rule("backdoor_lic_eval", "")
# The LIRA baseline (Doan et al. 2021, as Yu et al. adapt it): the same training with LIRA's trigger
# generator (lic.lira.trigger), evaluated by the same command; paper and smoke tiers (docs/backdoor.md).
lic_train_rule("backdoor_lic_lira_train", "_lira",
               lambda cfg, m: plan.backdoor.lic_settings(cfg, m, plan.backdoor.LIC_TRAIN_KEYS, lira=True))
lic_eval_rule("backdoor_lic_lira_eval", "_lira")
# Table 1's stand-in (backdoor.segmentation): an encoder backdoored for per-block segmentation of
# mosaics of the classification images, trained by the same command with the settings' seg.
lic_train_rule("backdoor_lic_seg_train", "_seg", lambda cfg, m: plan.backdoor.lic_seg_settings(cfg, m, "train"))
lic_seg_eval_rule("backdoor_lic_seg_eval", "_seg")
# Table 1's LIRA row: the same stand-in with LIRA's trigger (with lic.lira only).
lic_train_rule("backdoor_lic_seg_lira_train", "_seg_lira",
               lambda cfg, m: plan.backdoor.lic_seg_settings(cfg, m, "train", lira=True))
lic_seg_eval_rule("backdoor_lic_seg_lira_eval", "_seg_lira")


# -- tables and figures of both studies: one rule each, over the registries (backdoor.tables, backdoor.figures)

# backdoor_table writes tables/backdoor_<table>.{csv,md}: the classifier backdoor's tables 4 to 11
# that have runs in this config, and the LIC backdoor's lic_table3 and lic_table5.
table_rule(
    "backdoor", plan.backdoor.table_plan(config), plan.backdoor.entry_inputs, plan.backdoor.entry_settings,
    "advcompress backdoor-table {input:q} --kind {params.kind:q} --out-csv {output.csv:q} "
    "--out-md {output.md:q}{params.settings_arg} > {log:q} 2>&1",
)
# backdoor_figure draws figures/backdoor_<name>: fig6(b)_asr_vs_jpeg.pdf, fig7(b)_codec_transfer.pdf,
# lic_fig4_bpp_attack.pdf, lic_fig5_psnr_attack.pdf and lic_fig6_example.png.
figure_rule(
    "backdoor", plan.backdoor.figure_plan(config), plan.backdoor.entry_inputs, plan.backdoor.entry_settings,
    path=f"{OUT}/figures/backdoor_{{backdoor_figure}}",
    command="advcompress backdoor-figure {input:q} --kind {params.kind:q} --out {output:q}{params.settings_arg} "
    "> {log:q} 2>&1",
)
