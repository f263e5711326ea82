# The LIC backdoor's rules are declared per encoder variant (the main one, the LIRA baseline, the
# segmentation stand-in and its LIRA row) by these factories over the same commands; backdoor.smk
# calls them. No planning here: the settings come from advcompress.plan.backdoor.


def lic_train_rule(name, suffix, settings):
    """Declare `name`: `advcompress backdoor-lic-train` writing lic/{model}/q{quality}<suffix>.pt|.json
    with `settings(config, model)`: the main encoder (suffix ""), the LIRA baseline's ("_lira") and
    the segmentation stand-in's ("_seg")."""

    rule:
        name:
            name
        conda:
            CONDA_ENV
        input:
            ckpt=lambda w: plan.core.checkpoint(config, w.model, w.quality),
            train=f"{DATA}/train",
            digits=BD_IMAGES,
            classifier=f"{BD_CKPT}/classifier/clean.pt",
        output:
            model=f"{BD_CKPT}/lic/{{model}}/q{{quality}}{suffix}.pt",
            meta=f"{BD_CKPT}/lic/{{model}}/q{{quality}}{suffix}.json",
        params:
            settings=lambda w: as_json(settings(config, w.model)),
            ckpt=lambda w, input: codec_ckpt_arg(w.model, w.quality, input.ckpt),
        threads: 1
        priority: 5  # the longest jobs after training (~2 min each): started late, they leave a core idle at the end
        resources:
            gpu=1,
            mem_mb=lambda w, attempt: 3000 * attempt,
        retries: 1
        log:
            logfile(name, "{model}_q{quality}"),
        benchmark:
            benchfile(name, "{model}_q{quality}")
        shell:
            "advcompress backdoor-lic-train --model {wildcards.model:q} --quality {wildcards.quality:q} "
            "{params.ckpt} --train-dir {input.train:q} --digits {input.digits:q} "
            "--classifier {input.classifier:q} --out {output.model:q} --settings {params.settings:q} "
            "--threads {threads} > {log:q} 2>&1"


def lic_eval_rule(name, suffix):
    """Declare `name`: `advcompress backdoor-lic-eval` of the encoder lic/{model}/q{quality}<suffix>.pt
    (the main one, or the LIRA baseline's), writing q{quality}<suffix>_{rd,ds,defense,amplified}.csv."""
    out = f"{BD_OUT}/lic/{{model}}/q{{quality}}{suffix}"

    rule:
        name:
            name
        conda:
            CONDA_ENV
        input:
            ckpt=lambda w: plan.core.checkpoint(config, w.model, w.quality),
            backdoored=f"{BD_CKPT}/lic/{{model}}/q{{quality}}{suffix}.pt",
            images=f"{DATA}/eval",
            digits=BD_IMAGES,
            classifier=f"{BD_CKPT}/classifier/clean.pt",
        output:
            rd=f"{out}_rd.csv",
            ds=f"{out}_ds.csv",
            defense=f"{out}_defense.csv",
            amplified=f"{out}_amplified.csv",
            example=directory(f"{out}_example"),
        params:
            settings=lambda w: as_json(plan.backdoor.lic_settings(config, w.model, plan.backdoor.LIC_EVAL_KEYS)),
            ckpt=lambda w, input: codec_ckpt_arg(w.model, w.quality, input.ckpt),
        threads: 1
        resources:
            gpu=1,
            mem_mb=lambda w, attempt: 2000 * attempt,
        retries: 1
        log:
            logfile(name, "{model}_q{quality}"),
        benchmark:
            benchfile(name, "{model}_q{quality}")
        shell:
            "advcompress backdoor-lic-eval --model {wildcards.model:q} --quality {wildcards.quality:q} "
            "{params.ckpt} --backdoored {input.backdoored:q} --eval-dir {input.images:q} "
            "--digits {input.digits:q} --classifier {input.classifier:q} --out-rd {output.rd:q} "
            "--out-ds {output.ds:q} --out-defense {output.defense:q} --out-amplified {output.amplified:q} "
            "--example-dir {output.example:q} "
            "--settings {params.settings:q} --threads {threads} > {log:q} 2>&1"


def lic_seg_eval_rule(name, suffix):
    """Declare `name`: `advcompress backdoor-lic-seg-eval` of the segmentation encoder
    lic/{model}/q{quality}<suffix>.pt (the frequency trigger's, or the LIRA baseline's) into q{quality}<suffix>.csv."""

    rule:
        name:
            name
        conda:
            CONDA_ENV
        input:
            ckpt=lambda w: plan.core.checkpoint(config, w.model, w.quality),
            backdoored=f"{BD_CKPT}/lic/{{model}}/q{{quality}}{suffix}.pt",
            digits=BD_IMAGES,
            classifier=f"{BD_CKPT}/classifier/clean.pt",
        output:
            f"{BD_OUT}/lic/{{model}}/q{{quality}}{suffix}.csv",
        params:
            settings=lambda w: as_json(plan.backdoor.lic_seg_settings(config, w.model, "test")),
            ckpt=lambda w, input: codec_ckpt_arg(w.model, w.quality, input.ckpt),
        threads: 1
        resources:
            gpu=1,
            mem_mb=lambda w, attempt: 2000 * attempt,
        retries: 1
        log:
            logfile(name, "{model}_q{quality}"),
        benchmark:
            benchfile(name, "{model}_q{quality}")
        shell:
            "advcompress backdoor-lic-seg-eval --model {wildcards.model:q} --quality {wildcards.quality:q} "
            "{params.ckpt} --backdoored {input.backdoored:q} --digits {input.digits:q} "
            "--classifier {input.classifier:q} --out {output:q} --settings {params.settings:q} "
            "--threads {threads} > {log:q} 2>&1"
