# Compression as a defense for classifiers (human-aligned defense paper) and saliency-guided
# adaptive JPEG. Thin rules: every job is one `advcompress classify-*` call.
from snakemake.utils import validate


validate(config["classify"], workflow.source_path("../schemas/classify.schema.yaml"))

CLS = config["classify"]
NETS = CLS["nets"]
CLS_DIR = f"{OUT}/classify"


def _ablation_defenses():
    return [f"jpeg@{q}" for q in CLS["jpeg_ablation"]["qualities"]]


def _sequential_defenses():
    return [f"{d}x{n}" for d in CLS["sequential"]["defenses"] for n in CLS["sequential"]["rounds"]]


def _bpp_defenses():
    """Every configured learned codec at each of its qualities, and JPEG at the ablation qualities."""
    return [f"{m}@{q}" for m in LEARNED for q in LEARNED[m]["qualities"]] + _ablation_defenses()


def _defense_steps(spec):
    from advcompress.classify.defenses import parse_defense

    return parse_defense(spec)


def _check_defenses():
    from advcompress.codecs import registered_codecs

    known = set(registered_codecs())
    specs = [*CLS["defenses"], *_sequential_defenses(), *_ablation_defenses()]
    for spec in specs:
        for step in _defense_steps(spec):
            if step.codec not in known:
                raise ValueError(f"classify: defense {spec!r} names codec {step.codec!r}, not in the registry")
            if step.codec in LEARNED and int(step.quality) not in LEARNED[step.codec]["qualities"]:
                raise ValueError(f"classify: defense {spec!r}: {step.codec} has no configured quality {step.quality}")
            if registered_codecs("learned").count(step.codec) and step.codec not in LEARNED:
                raise ValueError(f"classify: defense {spec!r}: learned codec {step.codec} is not in codecs.learned")
    for net in CLS["adaptive"]["nets"]:
        if net not in NETS:
            raise ValueError(f"classify.adaptive.nets: {net!r} is not in classify.nets")


_check_defenses()


def net_ckpt(net):
    spec = NETS[net]
    if spec["kind"] == "smallcnn":
        return f"{CLS_DIR}/{net}/classifier.pt"
    return f"{DATA}/weights/torchvision/{spec['arch']}.pth"


def net_data(net):
    ds = NETS[net]["dataset"]
    return NETS[net]["path"] if ds == "imagenet" else f"{DATA}/{ds}"


def net_inputs(wildcards):
    ds = NETS[wildcards.net]["dataset"]
    data = [] if ds == "imagenet" else [ancient(net_data(wildcards.net))]
    return {"net": ancient(net_ckpt(wildcards.net)), "data": data}


def data_settings(net, images=None):
    spec = NETS[net]
    return {"kind": "digits" if spec["dataset"] == "digits" else spec["dataset"],
            "images": spec["images"] if images is None else images, "size": spec.get("size", 224)}


def job_settings(net, attack=None, eps=None, through=None, images=None, defenses=()):
    codecs = {s.codec: codec_settings(s.codec) for d in defenses for s in _defense_steps(d)}
    s = {"seed": config["seed"], "device": config["device"], "net": NETS[net], "batch_size": CLS["batch_size"],
         "data": data_settings(net, images), "codecs": codecs}
    if attack is not None:
        s["attack"] = {k: v for k, v in CLS["attacks"].get(attack, {}).items() if k != "through"}
        s["eps_255"] = eps if eps is not None else CLS["eps_255"]
        s["through"] = through if through is not None else CLS["attacks"][attack]["through"]
    return s


def codec_ckpts(specs):
    """{name@quality: checkpoint} of every learned step in the given defense specs."""
    out = {}
    for spec in specs:
        for s in _defense_steps(spec):
            if s.codec in LEARNED:
                out[s.key] = checkpoint(s.codec, int(s.quality))
    return out


def codec_ckpt_args(specs):
    return " ".join(f"--codec-ckpt {shlex.quote(k + '=' + v)}" for k, v in sorted(codec_ckpts(specs).items()))


def _alt(names):
    return "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True))


wildcard_constraints:
    net=_alt(NETS),
    attack=_alt([*CLS["attacks"], CLS["jpeg_ablation"]["attack"], CLS["sequential"]["attack"]]),
    defense=_alt([*CLS["defenses"], *_sequential_defenses(), *_ablation_defenses()]),


rule classify_train:
    conda:
        CONDA_ENV
    input:
        data=ancient(f"{DATA}/digits"),
    output:
        ckpt=f"{CLS_DIR}/{{net}}/classifier.pt",
        meta=f"{CLS_DIR}/{{net}}/classifier.json",
    params:
        settings=lambda w: as_json(
            {"seed": config["seed"], "train": NETS[w.net]["train"] | {"width": NETS[w.net].get("width", 32)}}
        ),
    threads: 1
    resources:
        gpu=1,
        mem_mb=1500,
    log:
        logfile("classify_train", "{net}"),
    benchmark:
        benchfile("classify_train", "{net}")
    shell:
        "advcompress classify-train --data-dir {input.data:q} --out {output.ckpt:q} "
        "--settings {params.settings:q} --threads {threads} 2> {log:q}"


rule classify_fetch_classifier:
    conda:
        CONDA_ENV
    output:
        f"{DATA}/weights/torchvision/{{arch}}.pth",
    wildcard_constraints:
        arch="resnet50|vit_b_16",
    log:
        logfile("classify_fetch_classifier", "{arch}"),
    shell:
        "advcompress classify-fetch-classifier --arch {wildcards.arch:q} --out {output:q} 2> {log:q}"


rule classify_adv:
    conda:
        CONDA_ENV
    input:
        unpack(net_inputs),
    output:
        f"{CLS_DIR}/{{net}}/adv/{{attack}}.pt",
    params:
        settings=lambda w: as_json(job_settings(w.net, w.attack)),
        data=lambda w: net_data(w.net),
    threads: 1
    resources:
        gpu=1,
        mem_mb=2000,
    log:
        logfile("classify_adv", "{net}_{attack}"),
    benchmark:
        benchfile("classify_adv", "{net}_{attack}")
    shell:
        "advcompress classify-adv --net {wildcards.net:q} --net-ckpt {input.net:q} --data-dir {params.data:q} "
        "--attack {wildcards.attack:q} --out {output:q} --settings {params.settings:q} "
        "--threads {threads} 2> {log:q}"


def _attack_inputs(wildcards):
    return {**net_inputs(wildcards), "adv": f"{CLS_DIR}/{wildcards.net}/adv/{wildcards.attack}.pt",
            "codecs": [ancient(p) for p in codec_ckpts([wildcards.defense]).values()]}


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
        mem_mb=2500,
    log:
        logfile("classify_attack", "{net}_{attack}_{defense}"),
    benchmark:
        benchfile("classify_attack", "{net}_{attack}_{defense}")
    shell:
        "advcompress classify-attack --net {wildcards.net:q} --net-ckpt {input.net:q} --data-dir {params.data:q} "
        "--attack {wildcards.attack:q} --defense {wildcards.defense:q} --adv {input.adv:q} {params.codecs} "
        "--out {output:q} --settings {params.settings:q} --threads {threads} 2> {log:q}"


rule classify_ablation:
    conda:
        CONDA_ENV
    input:
        unpack(net_inputs),
    output:
        f"{CLS_DIR}/{{net}}/ablation/{{defense}}.csv",
    params:
        settings=lambda w: as_json(
            job_settings(w.net, CLS["jpeg_ablation"]["attack"], CLS["jpeg_ablation"]["eps_255"],
                         CLS["jpeg_ablation"]["through"], defenses=[w.defense])
        ),
        data=lambda w: net_data(w.net),
    threads: 1
    resources:
        gpu=1,
        mem_mb=2500,
    log:
        logfile("classify_ablation", "{net}_{defense}"),
    benchmark:
        benchfile("classify_ablation", "{net}_{defense}")
    shell:
        "advcompress classify-attack --net {wildcards.net:q} --net-ckpt {input.net:q} --data-dir {params.data:q} "
        "--attack " + shlex.quote(CLS["jpeg_ablation"]["attack"]) + " --defense {wildcards.defense:q} "
        "--out {output:q} --settings {params.settings:q} --threads {threads} 2> {log:q}"


def _sequential_inputs(wildcards):
    return {**net_inputs(wildcards), "codecs": [ancient(p) for p in codec_ckpts([wildcards.defense]).values()]}


rule classify_sequential:
    conda:
        CONDA_ENV
    input:
        unpack(_sequential_inputs),
    output:
        f"{CLS_DIR}/{{net}}/sequential/{{defense}}.csv",
    params:
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
        mem_mb=2500,
    log:
        logfile("classify_sequential", "{net}_{defense}"),
    benchmark:
        benchfile("classify_sequential", "{net}_{defense}")
    shell:
        "advcompress classify-attack --net {wildcards.net:q} --net-ckpt {input.net:q} --data-dir {params.data:q} "
        "--attack " + shlex.quote(CLS["sequential"]["attack"]) + " --defense {wildcards.defense:q} "
        "{params.codecs} --out {output:q} --settings {params.settings:q} --threads {threads} 2> {log:q}"


def _bpp_inputs(wildcards):
    return {**net_inputs(wildcards), "codecs": [ancient(p) for p in codec_ckpts(_bpp_defenses()).values()]}


rule classify_bpp:
    conda:
        CONDA_ENV
    input:
        unpack(_bpp_inputs),
    output:
        f"{CLS_DIR}/{{net}}/bpp.csv",
    params:
        settings=lambda w: as_json(
            job_settings(w.net, images=CLS["bpp"]["images"], defenses=_bpp_defenses())
            | {"defenses": _bpp_defenses()}
        ),
        data=lambda w: net_data(w.net),
        codecs=lambda w: codec_ckpt_args(_bpp_defenses()),
    threads: 1
    resources:
        gpu=1,
        mem_mb=2500,
    log:
        logfile("classify_bpp", "{net}"),
    benchmark:
        benchfile("classify_bpp", "{net}")
    shell:
        "advcompress classify-bpp --net {wildcards.net:q} --net-ckpt {input.net:q} --data-dir {params.data:q} "
        "{params.codecs} --out {output:q} --settings {params.settings:q} --threads {threads} 2> {log:q}"


rule classify_overhead:
    conda:
        CONDA_ENV
    input:
        unpack(lambda w: {**net_inputs(w), "codecs": [ancient(p) for p in codec_ckpts(CLS["defenses"]).values()]}),
    output:
        f"{CLS_DIR}/{{net}}/overhead.csv",
    params:
        settings=lambda w: as_json(
            job_settings(w.net, images=CLS["overhead"]["images"], defenses=CLS["defenses"])
            | {"defenses": CLS["defenses"]}
        ),
        data=lambda w: net_data(w.net),
        codecs=lambda w: codec_ckpt_args(CLS["defenses"]),
    threads: 1
    resources:
        gpu=1,
        mem_mb=2500,
    log:
        logfile("classify_overhead", "{net}"),
    benchmark:
        benchfile("classify_overhead", "{net}")
    shell:
        "advcompress classify-overhead --net {wildcards.net:q} --net-ckpt {input.net:q} --data-dir {params.data:q} "
        "{params.codecs} --out {output:q} --settings {params.settings:q} --threads {threads} 2> {log:q}"


rule classify_adaptive:
    conda:
        CONDA_ENV
    input:
        unpack(net_inputs),
    output:
        table=f"{CLS_DIR}/{{net}}/adaptive.csv",
        examples=f"{CLS_DIR}/{{net}}/adaptive_examples.pt",
    params:
        settings=lambda w: as_json(
            job_settings(w.net, CLS["adaptive"]["attack"], images=CLS["adaptive"]["images"])
            | {"adaptive": CLS["adaptive"]}
        ),
        data=lambda w: net_data(w.net),
    threads: 1
    resources:
        gpu=1,
        mem_mb=2000,
    log:
        logfile("classify_adaptive", "{net}"),
    benchmark:
        benchfile("classify_adaptive", "{net}")
    shell:
        "advcompress classify-adaptive --net {wildcards.net:q} --net-ckpt {input.net:q} --data-dir {params.data:q} "
        "--out {output.table:q} --examples {output.examples:q} --settings {params.settings:q} "
        "--threads {threads} 2> {log:q}"


# -- tables and figures (one rule each) ------------------------------------------------------------

ATTACK_TABLES = [
    f"{CLS_DIR}/{n}/attack/{a}/{d}.csv"
    for n in NETS
    for a in CLS["attacks"]
    for d in CLS["defenses"]
]
LINF_TABLES = [p for p in ATTACK_TABLES if p.split("/")[-2] in ("fgsm", "ifgsm", "pgd")]
L2_TABLES = [p for p in ATTACK_TABLES if p.split("/")[-2] in ("cw", "deepfool")]
CLS_INPUTS = {
    "linf": LINF_TABLES,
    "ifgsm": [p for p in ATTACK_TABLES if p.split("/")[-2] == "ifgsm"],
    "l2": L2_TABLES,
    "ablation": [f"{CLS_DIR}/{n}/ablation/{d}.csv" for n in NETS for d in _ablation_defenses()],
    "sequential": [f"{CLS_DIR}/{n}/sequential/{d}.csv" for n in NETS for d in _sequential_defenses()],
    "bpp": [f"{CLS_DIR}/{n}/bpp.csv" for n in NETS],
    "overhead": [f"{CLS_DIR}/{n}/overhead.csv" for n in NETS],
    "adaptive": [f"{CLS_DIR}/{n}/adaptive.csv" for n in CLS["adaptive"]["nets"]],
}
CLS_TABLE_KINDS = [k for k, v in CLS_INPUTS.items() if v]
CLS_FIGURE_KINDS = [k for k in ("linf", "l2", "ablation", "sequential") if CLS_INPUTS[k]]
CLS_TABLE_SETTINGS = as_json({"l2_thresholds": CLS["l2_thresholds"]})


rule classify_table:
    conda:
        CONDA_ENV
    input:
        lambda w: CLS_INPUTS[w.kind],
    output:
        csv=f"{OUT}/tables/classify_{{kind}}.csv",
        md=f"{OUT}/tables/classify_{{kind}}.md",
    wildcard_constraints:
        kind=_alt(CLS_INPUTS),
    params:
        settings=CLS_TABLE_SETTINGS,
    log:
        logfile("classify_table", "{kind}"),
    shell:
        "advcompress classify-table {wildcards.kind:q} {input:q} --out-csv {output.csv:q} --out-md {output.md:q} "
        "--settings {params.settings:q} 2> {log:q}"


rule classify_figure:
    conda:
        CONDA_ENV
    input:
        lambda w: CLS_INPUTS[w.kind],
    output:
        report(
            f"{OUT}/figures/classify_{{kind}}.pdf",
            caption="../report/classify_{kind}.rst",
            category="classify",
            subcategory="Compression defenses",
        ),
    wildcard_constraints:
        kind="linf|l2|ablation|sequential",
    params:
        settings=CLS_TABLE_SETTINGS,
    log:
        logfile("classify_figure", "{kind}"),
    shell:
        "advcompress classify-figure {wildcards.kind:q} {input:q} --out {output:q} --settings {params.settings:q} "
        "2> {log:q}"


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
    shell:
        "advcompress classify-figure adaptive-example {input:q} --out {output:q} 2> {log:q}"


localrules:
    classify_table,
    classify_figure,
    classify_adaptive_figure,


ALL.extend(
    [f"{OUT}/tables/classify_{k}.{ext}" for k in CLS_TABLE_KINDS for ext in ("csv", "md")]
    + [f"{OUT}/figures/classify_{k}.pdf" for k in CLS_FIGURE_KINDS]
    + [f"{OUT}/figures/classify_adaptive_{n}.pdf" for n in CLS["adaptive"]["nets"]]
    + [f"{CLS_DIR}/{n}/classifier.json" for n in NETS if NETS[n]["kind"] == "smallcnn"]
)
