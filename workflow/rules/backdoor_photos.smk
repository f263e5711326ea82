# The backdoor study's natural-image task (backdoor.dataset: photos): patches of the bundled
# photographs classified by source photo. Science in advcompress.backdoor.datasets.


rule backdoor_photos:
    conda:
        CONDA_ENV
    output:
        directory(f"{DATA}/backdoor_photos"),
    params:
        settings=as_json(plan.backdoor.photos_settings(config) if plan.backdoor.dataset(config) == "photos" else {}),
    log:
        logfile("backdoor_photos"),
    benchmark:
        benchfile("backdoor_photos")
    shell:
        "advcompress backdoor-photos --out {output:q} --settings {params.settings:q} > {log:q} 2>&1"


localrules:
    backdoor_photos,
