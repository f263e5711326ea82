# Training learned codecs on the training tier (the default and smoke tiers' `trained` weights).


rule train_lic:
    conda:
        CONDA_ENV
    input:
        train=f"{DATA}/train",
        init=lambda w: list(filter(None, [plan.foundation.warm_start(config, w.model, w.quality)])),
    output:
        ckpt=f"{CKPT}/codecs/{{model}}/q{{quality}}.pt",
        meta=f"{CKPT}/codecs/{{model}}/q{{quality}}.json",
    params:
        settings=lambda w: as_json(plan.foundation.train_settings(config, w.model, w.quality)),
        init=lambda w, input: f"--init {shlex.quote(input.init[0])}" if input.init else "",
    threads: 1
    priority: 10  # most of the DAG waits on trained codecs: start them before the independent studies
    resources:
        gpu=1,
        mem_mb=lambda w, attempt: 2000 * attempt,
    retries: 1
    log:
        logfile("train_lic", "{model}_q{quality}"),
    benchmark:
        benchfile("train_lic", "{model}_q{quality}")
    shell:
        "advcompress train-lic --model {wildcards.model:q} --train-dir {input.train:q} "
        "--out {output.ckpt:q} {params.init} --settings {params.settings:q} --threads {threads} "
        "> {log:q} 2>&1"
