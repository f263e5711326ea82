# Datasets: bundled (default, smoke) or downloaded with checksums (paper). Outputs are DVC-tracked.


rule fetch_dataset:
    conda:
        CONDA_ENV
    output:
        directory(f"{DATA}/{{dataset}}"),
    params:
        settings=lambda w: as_json(plan.foundation.dataset_settings(config, w.dataset)),
    log:
        logfile("fetch_dataset", "{dataset}"),
    benchmark:
        benchfile("fetch_dataset", "{dataset}")
    shell:
        "advcompress prepare-data --out {output:q} --settings {params.settings:q} > {log:q} 2>&1"


rule fetch_weights:
    conda:
        CONDA_ENV
    output:
        f"{DATA}/weights/{{model}}/q{{quality}}.pth.tar",
    log:
        logfile("fetch_weights", "{model}_q{quality}"),
    benchmark:
        benchfile("fetch_weights", "{model}_q{quality}")
    shell:
        "advcompress fetch-weights --model {wildcards.model:q} --quality {wildcards.quality:q} "
        "--out {output:q} > {log:q} 2>&1"


# Downloads run where Snakemake runs (the submit host on a cluster): compute nodes often have no
# internet access, and a fetch needs no GPU.
localrules:
    fetch_dataset,
    fetch_weights,
