# Compression as a defense for classifiers (human-aligned defense paper) and saliency-guided
# adaptive JPEG. Thin rules: every job is one `advcompress classify-*` call.


CLS_DIR = plan.classify.out_dir(config)
CLS_CKPT = plan.classify.ckpt_out(config)  # the trained digits CNNs (with every training output: CKPT)
BPP_PARTS = plan.classify.bpp_parts(config)  # codec -> its defense specs in the bpp table


rule classify_train:
    conda:
        CONDA_ENV
    input:
        data=f"{DATA}/digits",
    output:
        ckpt=f"{CLS_CKPT}/{{net}}/classifier.pt",
        meta=f"{CLS_CKPT}/{{net}}/classifier.json",
    params:
        settings=lambda w: as_json(plan.classify.train_settings(config, w.net)),
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda w, attempt: 1500 * attempt,
    retries: 1
    log:
        logfile("classify_train", "{net}"),
    benchmark:
        benchfile("classify_train", "{net}")
    shell:
        "advcompress classify-train --data-dir {input.data:q} --out {output.ckpt:q} "
        "--settings {params.settings:q} --threads {threads} > {log:q} 2>&1"


rule classify_fetch_classifier:
    conda:
        CONDA_ENV
    output:
        f"{DATA}/weights/torchvision/{{arch}}.pth",
    log:
        logfile("classify_fetch_classifier", "{arch}"),
    benchmark:
        benchfile("classify_fetch_classifier", "{arch}")
    shell:
        "advcompress classify-fetch-classifier --arch {wildcards.arch:q} --out {output:q} > {log:q} 2>&1"


rule classify_adv:
    conda:
        CONDA_ENV
    input:
        unpack(classify_net),
    output:
        plan.classify.adv_out(config, "{net}", "{cls_attack}"),
    params:
        settings=lambda w: as_json(plan.classify.adv_settings(config, w.net, w.cls_attack)),
        data=classify_data,
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda w, attempt: 2000 * attempt,
    retries: 1
    log:
        logfile("classify_adv", "{net}_{cls_attack}"),
    benchmark:
        benchfile("classify_adv", "{net}_{cls_attack}")
    shell:
        "advcompress classify-adv --net {wildcards.net:q} --net-ckpt {input.net:q} --data-dir {params.data:q} "
        "--attack {wildcards.cls_attack:q} --out {output:q} --settings {params.settings:q} "
        "--threads {threads} > {log:q} 2>&1"


rule classify_attack:
    conda:
        CONDA_ENV
    input:
        unpack(lambda w: plan.classify.attack_inputs(config, w.net, w.cls_attack, w.defense)),
    output:
        f"{CLS_DIR}/{{net}}/attack/{{cls_attack}}/{{defense}}.csv",
    params:
        settings=lambda w: as_json(plan.classify.attack_settings(config, w.net, w.cls_attack, w.defense)),
        data=classify_data,
        codecs=lambda w: plan.classify.codec_ckpt_args(config, [w.defense]),
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda w, attempt: 2500 * attempt,
    retries: 1
    log:
        logfile("classify_attack", "{net}_{cls_attack}_{defense}"),
    benchmark:
        benchfile("classify_attack", "{net}_{cls_attack}_{defense}")
    shell:
        "advcompress classify-attack --net {wildcards.net:q} --net-ckpt {input.net:q} --data-dir {params.data:q} "
        "--attack {wildcards.cls_attack:q} --defense {wildcards.defense:q} --adv {input.adv:q} {params.codecs} "
        "--out {output:q} --settings {params.settings:q} --threads {threads} > {log:q} 2>&1"


rule classify_ablation:
    conda:
        CONDA_ENV
    input:
        unpack(lambda w: plan.classify.ablation_inputs(config, w.net, w.defense)),
    output:
        f"{CLS_DIR}/{{net}}/ablation/{{defense}}.csv",
    params:
        attack=config["classify"]["jpeg_ablation"]["attack"],
        settings=lambda w: as_json(plan.classify.ablation_settings(config, w.net, w.defense)),
        data=classify_data,
        adv=adv_arg,
        codecs=lambda w: plan.classify.codec_ckpt_args(config, [w.defense]),
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda w, attempt: 2500 * attempt,
    retries: 1
    log:
        logfile("classify_ablation", "{net}_{defense}"),
    benchmark:
        benchfile("classify_ablation", "{net}_{defense}")
    shell:
        "advcompress classify-attack --net {wildcards.net:q} --net-ckpt {input.net:q} --data-dir {params.data:q} "
        "--attack {params.attack:q} --defense {wildcards.defense:q} {params.adv} {params.codecs} "
        "--out {output:q} --settings {params.settings:q} --threads {threads} > {log:q} 2>&1"


rule classify_sequential:
    conda:
        CONDA_ENV
    input:
        unpack(lambda w: plan.classify.with_codecs(config, w.net, [w.defense])),
    output:
        f"{CLS_DIR}/{{net}}/sequential/{{defense}}.csv",
    params:
        attack=config["classify"]["sequential"]["attack"],
        settings=lambda w: as_json(plan.classify.sequential_settings(config, w.net, w.defense)),
        data=classify_data,
        codecs=lambda w: plan.classify.codec_ckpt_args(config, [w.defense]),
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda w, attempt: 2500 * attempt,
    retries: 1
    log:
        logfile("classify_sequential", "{net}_{defense}"),
    benchmark:
        benchfile("classify_sequential", "{net}_{defense}")
    shell:
        "advcompress classify-attack --net {wildcards.net:q} --net-ckpt {input.net:q} --data-dir {params.data:q} "
        "--attack {params.attack:q} --defense {wildcards.defense:q} "
        "{params.codecs} --out {output:q} --settings {params.settings:q} --threads {threads} > {log:q} 2>&1"


rule classify_bpp:
    conda:
        CONDA_ENV
    input:
        unpack(lambda w: plan.classify.with_codecs(config, w.net, BPP_PARTS[w.codec])),
    output:
        f"{CLS_DIR}/{{net}}/bpp/{{codec}}.csv",
    params:
        settings=lambda w: as_json(plan.classify.bpp_settings(config, w.net, w.codec)),
        data=classify_data,
        codecs=lambda w: plan.classify.codec_ckpt_args(config, BPP_PARTS[w.codec]),
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda w, attempt: 2500 * attempt,
    retries: 1
    log:
        logfile("classify_bpp", "{net}_{codec}"),
    benchmark:
        benchfile("classify_bpp", "{net}_{codec}")
    shell:
        "advcompress classify-bpp --net {wildcards.net:q} --net-ckpt {input.net:q} --data-dir {params.data:q} "
        "{params.codecs} --out {output:q} --settings {params.settings:q} --threads {threads} > {log:q} 2>&1"


rule classify_overhead:
    conda:
        CONDA_ENV
    input:
        unpack(lambda w: plan.classify.with_codecs(config, w.net, config["classify"]["defenses"])),
    output:
        f"{CLS_DIR}/{{net}}/overhead.csv",
    params:
        settings=lambda w: as_json(plan.classify.overhead_settings(config, w.net)),
        data=classify_data,
        codecs=plan.classify.codec_ckpt_args(config, config["classify"]["defenses"]),
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda w, attempt: 2500 * attempt,
    retries: 1
    log:
        logfile("classify_overhead", "{net}"),
    benchmark:
        benchfile("classify_overhead", "{net}")
    shell:
        "advcompress classify-overhead --net {wildcards.net:q} --net-ckpt {input.net:q} --data-dir {params.data:q} "
        "{params.codecs} --out {output:q} --settings {params.settings:q} --threads {threads} > {log:q} 2>&1"


rule classify_adaptive:
    conda:
        CONDA_ENV
    input:
        unpack(lambda w: plan.classify.adaptive_inputs(config, w.net)),
    output:
        table=f"{CLS_DIR}/{{net}}/adaptive.csv",
        examples=f"{CLS_DIR}/{{net}}/adaptive_examples.pt",
    params:
        settings=lambda w: as_json(plan.classify.adaptive_settings(config, w.net)),
        data=classify_data,
        adv=adv_arg,
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda w, attempt: 2000 * attempt,
    retries: 1
    log:
        logfile("classify_adaptive", "{net}"),
    benchmark:
        benchfile("classify_adaptive", "{net}")
    shell:
        "advcompress classify-adaptive --net {wildcards.net:q} --net-ckpt {input.net:q} --data-dir {params.data:q} "
        "--out {output.table:q} --examples {output.examples:q} {params.adv} --settings {params.settings:q} "
        "--threads {threads} > {log:q} 2>&1"


rule classify_adaptive_attack:  # adaptive JPEG paper, Fig. 6: the comparison under another attack
    conda:
        CONDA_ENV
    input:
        unpack(lambda w: plan.classify.adaptive_inputs(config, w.net, w.cls_attack)),
    output:
        f"{CLS_DIR}/{{net}}/adaptive/{{cls_attack}}.csv",
    params:
        settings=lambda w: as_json(plan.classify.adaptive_settings(config, w.net, w.cls_attack)),
        data=classify_data,
        adv=adv_arg,
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda w, attempt: 2000 * attempt,
    retries: 1
    log:
        logfile("classify_adaptive_attack", "{net}_{cls_attack}"),
    benchmark:
        benchfile("classify_adaptive_attack", "{net}_{cls_attack}")
    shell:
        "advcompress classify-adaptive --net {wildcards.net:q} --net-ckpt {input.net:q} --data-dir {params.data:q} "
        "--out {output:q} {params.adv} --settings {params.settings:q} --threads {threads} > {log:q} 2>&1"


rule classify_adaptive_quality:  # adaptive JPEG paper, Fig. 2a: accuracy against the JPEG quality
    conda:
        CONDA_ENV
    input:
        unpack(lambda w: plan.classify.adaptive_inputs(config, w.net)),
    output:
        f"{CLS_DIR}/{{net}}/adaptive_quality.csv",
    params:
        settings=lambda w: as_json(plan.classify.adaptive_quality_settings(config, w.net)),
        data=classify_data,
        adv=adv_arg,
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda w, attempt: 2000 * attempt,
    retries: 1
    log:
        logfile("classify_adaptive_quality", "{net}"),
    benchmark:
        benchfile("classify_adaptive_quality", "{net}")
    shell:
        "advcompress classify-adaptive-quality --net {wildcards.net:q} --net-ckpt {input.net:q} "
        "--data-dir {params.data:q} --out {output:q} {params.adv} --settings {params.settings:q} "
        "--threads {threads} > {log:q} 2>&1"


rule classify_cycles:  # human-aligned defense paper, Fig. 1: the same images after N compression cycles
    conda:
        CONDA_ENV
    input:
        unpack(lambda w: plan.classify.cycles_inputs(config)),
    output:
        f"{CLS_DIR}/cycles.pt",
    params:
        settings=lambda w: as_json(plan.classify.cycles_settings(config)),
        data=lambda w: plan.classify.net_data(config, plan.classify.cycles_net(config)),
        codecs=lambda w: plan.classify.codec_ckpt_args(config, config["classify"]["cycles"]["defenses"]),
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda w, attempt: 2000 * attempt,
    retries: 1
    log:
        logfile("classify_cycles", "all"),
    benchmark:
        benchfile("classify_cycles", "all")
    shell:
        "advcompress classify-cycles --data-dir {params.data:q} {params.codecs} --out {output:q} "
        "--settings {params.settings:q} --threads {threads} > {log:q} 2>&1"


# -- tables and figures: one rule each, over the study's registries (classify.tables, classify.figures) --

# classify_table writes tables/classify_<table>.{csv,md} for every table with rows in this config.
table_rule(
    "classify", plan.classify.table_plan(config), plan.classify.entry_inputs, plan.classify.entry_settings,
    "advcompress classify-table {params.kind:q} {input:q} --out-csv {output.csv:q} --out-md {output.md:q}"
    "{params.settings_arg} > {log:q} 2>&1",
)
# classify_figure draws figures/classify_<stem>.pdf: the accuracy figures of the tables of the same
# name, and adaptive_<net> for each net of classify.adaptive.nets.
figure_rule(
    "classify", plan.classify.figure_plan(config), plan.classify.entry_inputs, plan.classify.entry_settings,
    path=f"{OUT}/figures/classify_{{classify_figure}}.pdf",
    command="advcompress classify-figure {params.kind:q} {input:q} --out {output:q}{params.settings_arg} "
    "> {log:q} 2>&1",
)


localrules:
    classify_fetch_classifier,
