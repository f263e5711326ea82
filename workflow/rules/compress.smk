# Clean compression: every evaluation image through every codec and quality, for real.


rule compress_clean:
    conda:
        CONDA_ENV
    input:
        images=f"{DATA}/eval",
        ckpt=checkpoint_input,
    output:
        table=f"{OUT}/clean/{{model}}/q{{quality}}.csv",
        recon=directory(f"{OUT}/clean/{{model}}/q{{quality}}_recon"),
    params:
        settings=lambda w: as_json(plan.core.codec_settings(config, w.model)),
        ckpt=checkpoint_arg,
    threads: 1
    resources:
        mem_mb=2000,
    log:
        logfile("compress_clean", "{model}_q{quality}"),
    benchmark:
        benchfile("compress_clean", "{model}_q{quality}")
    shell:
        "advcompress compress --codec {wildcards.model:q} --quality {wildcards.quality:q} "
        "--eval-dir {input.images:q} {params.ckpt} --out {output.table:q} "
        "--recon-dir {output.recon:q} --settings {params.settings:q} --threads {threads} > {log:q} 2>&1"


rule rd_table:
    conda:
        CONDA_ENV
    input:
        plan.foundation.clean_tables(config),
    output:
        csv=report(f"{OUT}/tables/rd_clean.csv", caption="../report/rd_table.rst",
                   category="foundation", subcategory="Clean rate-distortion"),
        md=f"{OUT}/tables/rd_clean.md",
    log:
        logfile("rd_table"),
    benchmark:
        benchfile("rd_table")
    shell:
        "advcompress rd-table {input:q} --out-csv {output.csv:q} --out-md {output.md:q} > {log:q} 2>&1"


rule rd_bd:
    conda:
        CONDA_ENV
    input:
        plan.foundation.clean_tables(config),
    output:
        csv=report(f"{OUT}/tables/rd_bd.csv", caption="../report/rd_bd.rst",
                   category="foundation", subcategory="Clean rate-distortion"),
        md=f"{OUT}/tables/rd_bd.md",
    params:
        settings=as_json(plan.core.seed_only(config)),
    log:
        logfile("rd_bd"),
    benchmark:
        benchfile("rd_bd")
    shell:
        "advcompress rd-bd {input:q} --anchor jpeg --settings {params.settings:q} "
        "--out-csv {output.csv:q} --out-md {output.md:q} > {log:q} 2>&1"


rule rd_figure:
    conda:
        CONDA_ENV
    input:
        plan.foundation.clean_tables(config),
    output:
        report(
            f"{OUT}/figures/rd_clean.pdf",
            caption="../report/rd_clean.rst",
            category="foundation",
            subcategory="Clean rate-distortion",
        ),
    log:
        logfile("rd_figure"),
    benchmark:
        benchfile("rd_figure")
    shell:
        "advcompress rd-figure {input:q} --out {output:q} > {log:q} 2>&1"


localrules:
    rd_table,
    rd_bd,
    rd_figure,
