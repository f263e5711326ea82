# Training learned codecs on the training tier (the default and smoke tiers' `trained` weights).


def train_qualities(wildcards):
    """A variable-rate model learns every configured quality; a fixed-rate one just its own."""
    if wildcards.quality == "vr":
        return LEARNED[wildcards.model]["qualities"]
    return [int(wildcards.quality)]


def warm_start(wildcards):
    """Later qualities of a fixed-rate model start from the previous quality's checkpoint."""
    qs = LEARNED[wildcards.model]["qualities"]
    if wildcards.quality == "vr" or not config["train"]["warm_start"]:
        return None
    i = qs.index(int(wildcards.quality))
    return None if i == 0 else checkpoint(wildcards.model, qs[i - 1])


def train_settings(wildcards):
    t = config["train"]
    steps = t["steps"] if warm_start(wildcards) is None else t["warm_start_steps"]
    if wildcards.quality == "vr":
        steps = int(steps * t["variable_rate_factor"])
    return {
        "qualities": train_qualities(wildcards),
        "widths": LEARNED[wildcards.model].get("widths"),
        "steps": steps,
        "batch_size": t["batch_size"],
        "patch": t["patch"],
        "lr": t["lr"],
        "aux_lr": t["aux_lr"],
        "seed": config["seed"],
        "device": config["device"],
    }


rule train_lic:
    input:
        train=ancient(f"{DATA}/train"),
        init=lambda w: [ancient(warm_start(w))] if warm_start(w) else [],
    output:
        ckpt=f"{OUT}/models/{{model}}/q{{quality}}.pt",
        meta=f"{OUT}/models/{{model}}/q{{quality}}.json",
    params:
        settings=lambda w: as_json(train_settings(w)),
        init=lambda w, input: f"--init {shlex.quote(input.init[0])}" if input.init else "",
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda w, attempt: 2000 * attempt,
    retries: 1
    log:
        logfile("train_lic", "{model}_q{quality}"),
    benchmark:
        benchfile("train_lic", "{model}_q{quality}")
    shell:
        ADV + " train-lic --model {wildcards.model:q} --train-dir {input.train:q} "
        "--out {output.ckpt:q} {params.init} --settings {params.settings:q} --threads {threads} "
        "2> {log:q}"
