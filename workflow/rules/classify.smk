# Compression as a defense for classifiers (human-aligned defense paper) and saliency-guided
# adaptive JPEG. Thin rules: every job is one `advcompress classify-*` call.


include: "classify_common.smk"


wildcard_constraints:
    net=_alt(NETS),
    attack=_alt([*CLS["attacks"], CLS["jpeg_ablation"]["attack"], CLS["sequential"]["attack"]]),
    defense=_alt([*CLS["defenses"], *_sequential_defenses(), *_ablation_defenses()]),


rule classify_train:
    conda:
        CONDA_ENV
    input:
        data=f"{DATA}/digits",
    output:
        ckpt=f"{CLS_CKPT}/{{net}}/classifier.pt",
        meta=f"{CLS_CKPT}/{{net}}/classifier.json",
    params:
        settings=lambda w: as_json(
            {"seed": config["seed"], "train": NETS[w.net]["train"] | {"width": NETS[w.net].get("width", 32)}}
        ),
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
    wildcard_constraints:
        arch="resnet50|vit_b_16",
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
        unpack(net_inputs),
    output:
        f"{CLS_DIR}/{{net}}/adv/{{attack}}.pt",
    params:
        settings=lambda w: as_json(job_settings(w.net, w.attack, unread=["through"])),
        data=lambda w: net_data(w.net),
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda w, attempt: 2000 * attempt,
    retries: 1
    log:
        logfile("classify_adv", "{net}_{attack}"),
    benchmark:
        benchfile("classify_adv", "{net}_{attack}")
    shell:
        "advcompress classify-adv --net {wildcards.net:q} --net-ckpt {input.net:q} --data-dir {params.data:q} "
        "--attack {wildcards.attack:q} --out {output:q} --settings {params.settings:q} "
        "--threads {threads} > {log:q} 2>&1"


rule classify_attack:
    conda:
        CONDA_ENV
    input:
        unpack(_attack_inputs),
    output:
        f"{CLS_DIR}/{{net}}/attack/{{attack}}/{{defense}}.csv",
    params:
        settings=lambda w: as_json(job_settings(w.net, w.attack, defenses=[w.defense])),
        data=lambda w: net_data(w.net),
        codecs=lambda w: codec_ckpt_args([w.defense]),
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda w, attempt: 2500 * attempt,
    retries: 1
    log:
        logfile("classify_attack", "{net}_{attack}_{defense}"),
    benchmark:
        benchfile("classify_attack", "{net}_{attack}_{defense}")
    shell:
        "advcompress classify-attack --net {wildcards.net:q} --net-ckpt {input.net:q} --data-dir {params.data:q} "
        "--attack {wildcards.attack:q} --defense {wildcards.defense:q} --adv {input.adv:q} {params.codecs} "
        "--out {output:q} --settings {params.settings:q} --threads {threads} > {log:q} 2>&1"


rule classify_ablation:
    conda:
        CONDA_ENV
    input:
        unpack(lambda w: net_inputs(w) | shared_adv(w.net, CLS["jpeg_ablation"]["attack"],
                                                   CLS["jpeg_ablation"]["eps_255"])),
    output:
        f"{CLS_DIR}/{{net}}/ablation/{{defense}}.csv",
    params:
        attack=CLS["jpeg_ablation"]["attack"],
        settings=lambda w: as_json(
            job_settings(w.net, CLS["jpeg_ablation"]["attack"], CLS["jpeg_ablation"]["eps_255"],
                         CLS["jpeg_ablation"]["through"], defenses=[w.defense])
        ),
        data=lambda w: net_data(w.net),
        adv=lambda w, input: f"--adv {shlex.quote(input.adv)}" if "adv" in input.keys() else "",
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
        "--attack {params.attack:q} --defense {wildcards.defense:q} {params.adv} "
        "--out {output:q} --settings {params.settings:q} --threads {threads} > {log:q} 2>&1"


rule classify_sequential:
    conda:
        CONDA_ENV
    input:
        unpack(_sequential_inputs),
    output:
        f"{CLS_DIR}/{{net}}/sequential/{{defense}}.csv",
    params:
        attack=CLS["sequential"]["attack"],
        # The paper always propagates gradients through sequential defenses (section 3.5).
        settings=lambda w: as_json(
            job_settings(w.net, CLS["sequential"]["attack"], CLS["sequential"]["eps_255"], [True],
                         defenses=[w.defense])
        ),
        data=lambda w: net_data(w.net),
        codecs=lambda w: codec_ckpt_args([w.defense]),
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
        unpack(_bpp_inputs),
    output:
        f"{CLS_DIR}/{{net}}/bpp/{{codec}}.csv",
    wildcard_constraints:
        codec=_alt(BPP_PARTS),
    params:
        settings=lambda w: as_json(
            job_settings(w.net, images=CLS["bpp"]["images"], defenses=BPP_PARTS[w.codec])
            | {"defenses": BPP_PARTS[w.codec]}
        ),
        data=lambda w: net_data(w.net),
        codecs=lambda w: codec_ckpt_args(BPP_PARTS[w.codec]),
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
        unpack(lambda w: {**net_inputs(w), "codecs": list(codec_ckpts(CLS["defenses"]).values())}),
    output:
        f"{CLS_DIR}/{{net}}/overhead.csv",
    params:
        settings=lambda w: as_json(
            job_settings(w.net, images=CLS["overhead"]["images"], defenses=CLS["defenses"], unread=["batch_size"])
            | {"defenses": CLS["defenses"]}
        ),
        data=lambda w: net_data(w.net),
        codecs=lambda w: codec_ckpt_args(CLS["defenses"]),
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
        unpack(lambda w: net_inputs(w) | shared_adv(w.net, CLS["adaptive"]["attack"], [CLS["adaptive"]["eps_255"]],
                                                   CLS["adaptive"]["images"])),
    output:
        table=f"{CLS_DIR}/{{net}}/adaptive.csv",
        examples=f"{CLS_DIR}/{{net}}/adaptive_examples.pt",
    params:
        settings=lambda w: as_json(
            job_settings(w.net, CLS["adaptive"]["attack"], images=CLS["adaptive"]["images"],
                         unread=["eps_255", "through"])
            | {"adaptive": {k: v for k, v in CLS["adaptive"].items() if k not in ("nets", "images")}}
        ),
        data=lambda w: net_data(w.net),
        adv=lambda w, input: f"--adv {shlex.quote(input.adv)}" if "adv" in input.keys() else "",
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


# -- tables and figures (one rule each) ------------------------------------------------------------

rule classify_table:
    conda:
        CONDA_ENV
    input:
        lambda w: CLS_INPUTS[w.kind],
    output:
        csv=report(f"{OUT}/tables/classify_{{kind}}.csv", caption="../report/classify_table.rst",
                   category="classify", subcategory="Compression defenses"),
        md=f"{OUT}/tables/classify_{{kind}}.md",
    wildcard_constraints:
        kind=_alt(CLS_INPUTS),
    params:
        settings=lambda w: cls_table_settings(w.kind),
    log:
        logfile("classify_table", "{kind}"),
    benchmark:
        benchfile("classify_table", "{kind}")
    shell:
        "advcompress classify-table {wildcards.kind:q} {input:q} --out-csv {output.csv:q} --out-md {output.md:q} "
        "--settings {params.settings:q} > {log:q} 2>&1"


rule classify_figure:
    conda:
        CONDA_ENV
    input:
        lambda w: CLS_INPUTS[w.kind],
    output:
        report(
            f"{OUT}/figures/classify_{{kind}}.pdf",
            caption="../report/classify_figure.rst",
            category="classify",
            subcategory="Compression defenses",
        ),
    wildcard_constraints:
        kind="linf|l2|ablation|sequential",
    params:
        settings=lambda w: cls_table_settings(w.kind),
    log:
        logfile("classify_figure", "{kind}"),
    benchmark:
        benchfile("classify_figure", "{kind}")
    shell:
        "advcompress classify-figure {wildcards.kind:q} {input:q} --out {output:q} --settings {params.settings:q} "
        "> {log:q} 2>&1"


rule classify_adaptive_figure:
    conda:
        CONDA_ENV
    input:
        f"{CLS_DIR}/{{net}}/adaptive_examples.pt",
    output:
        report(
            f"{OUT}/figures/classify_adaptive_{{net}}.pdf",
            caption="../report/classify_adaptive.rst",
            category="classify",
            subcategory="Adaptive JPEG",
        ),
    log:
        logfile("classify_adaptive_figure", "{net}"),
    benchmark:
        benchfile("classify_adaptive_figure", "{net}")
    shell:
        "advcompress classify-figure adaptive-example {input:q} --out {output:q} > {log:q} 2>&1"


localrules:
    classify_fetch_classifier,
    classify_table,
    classify_figure,
    classify_adaptive_figure,


study_targets(
    "classify",
    [f"{OUT}/tables/classify_{k}.{ext}" for k in CLS_TABLE_KINDS for ext in ("csv", "md")]
    + [f"{OUT}/figures/classify_{k}.pdf" for k in CLS_FIGURE_KINDS]
    + [f"{OUT}/figures/classify_adaptive_{n}.pdf" for n in CLS["adaptive"]["nets"]]
    + [f"{CLS_CKPT}/{n}/classifier.json" for n in NETS if NETS[n]["kind"] == "smallcnn"]
)
