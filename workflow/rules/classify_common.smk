# Lookups of the classifier-defense stage (classify.smk includes this first). No rules here.
from snakemake.utils import validate


validate(config["classify"], workflow.source_path("../schemas/classify.schema.yaml"))

CLS = config["classify"]
NETS = CLS["nets"]
CLS_DIR = f"{OUT}/classify"
CLS_CKPT = f"{CKPT}/classify"  # the trained digits CNNs (common.smk: CKPT)


def _ablation_defenses():
    return [f"jpeg@{q}" for q in CLS["jpeg_ablation"]["qualities"]]


def _sequential_defenses():
    return [f"{d}x{n}" for d in CLS["sequential"]["defenses"] for n in CLS["sequential"]["rounds"]]


def _bpp_defenses():
    """Every configured learned codec at each of its qualities, and JPEG at the ablation qualities."""
    return [*(f"{m}@{q}" for m in LEARNED for q in LEARNED[m]["qualities"]), *_ablation_defenses()]


def _defense_steps(spec):
    from advcompress.classify.defense_spec import parse_defense

    return parse_defense(spec)


def _check_defenses():
    from advcompress.codecs.catalog import codec_names

    known, learned = set(codec_names()), set(codec_names("learned"))
    specs = [*CLS["defenses"], *_sequential_defenses(), *_ablation_defenses()]
    for spec in specs:
        for step in _defense_steps(spec):
            if step.codec not in known:
                raise ValueError(f"classify: defense {spec!r} names codec {step.codec!r}, not in the registry")
            if step.codec in LEARNED and int(step.quality) not in LEARNED[step.codec]["qualities"]:
                raise ValueError(f"classify: defense {spec!r}: {step.codec} has no configured quality {step.quality}")
            if step.codec in learned and step.codec not in LEARNED:
                raise ValueError(f"classify: defense {spec!r}: learned codec {step.codec} is not in codecs.learned")
    for net in CLS["adaptive"]["nets"]:
        if net not in NETS:
            raise ValueError(f"classify.adaptive.nets: {net!r} is not in classify.nets")


_check_defenses()


def net_ckpt(net):
    spec = NETS[net]
    if spec["kind"] == "smallcnn":
        return f"{CLS_CKPT}/{net}/classifier.pt"
    return f"{DATA}/weights/torchvision/{spec['arch']}.pth"


def net_data(net):
    ds = NETS[net]["dataset"]
    return NETS[net]["path"] if ds == "imagenet" else f"{DATA}/{ds}"


def net_inputs(wildcards):
    ds = NETS[wildcards.net]["dataset"]
    data = [] if ds == "imagenet" else [net_data(wildcards.net)]
    return {"net": net_ckpt(wildcards.net), "data": data}


def data_settings(net, images=None):
    spec = NETS[net]
    return {"kind": "digits" if spec["dataset"] == "digits" else spec["dataset"],
            "images": spec["images"] if images is None else images, "size": spec.get("size", 224),
            **({"resize": spec["resize"]} if "resize" in spec else {})}


# What load_classifier reads of a net's spec; its training settings reach later jobs only through
# the checkpoint, and its images through `data`.
NET_KEYS = ["kind", "width", "num_classes", "arch", "classes"]


def job_settings(net, attack=None, eps=None, through=None, images=None, defenses=(), unread=()):
    """A classify job's settings; `unread` names the keys its command does not read (left out, so
    changing them reruns nothing)."""
    codecs = {s.codec: codec_settings(s.codec) for d in defenses for s in _defense_steps(d)}
    s = {"seed": config["seed"], "device": config["device"],
         "net": {k: v for k, v in NETS[net].items() if k in NET_KEYS}, "batch_size": CLS["batch_size"],
         "data": data_settings(net, images), "codecs": codecs}
    if attack is not None:
        s["attack"] = {k: v for k, v in CLS["attacks"].get(attack, {}).items() if k != "through"}
        s["eps_255"] = eps if eps is not None else CLS["eps_255"]
        s["through"] = through if through is not None else CLS["attacks"][attack]["through"]
    return {k: v for k, v in s.items() if k not in unread}


def codec_ckpts(specs):
    """{name@quality: checkpoint} of every learned step in the given defense specs."""
    out = {}
    for spec in specs:
        for s in _defense_steps(spec):
            if s.codec in LEARNED:
                out[s.key] = checkpoint(s.codec, int(s.quality))
    return out


def codec_ckpt_args(specs):
    return " ".join(codec_ckpt_arg(*k.rsplit("@", 1), v) for k, v in sorted(codec_ckpts(specs).items()))


def _alt(names):
    return "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True))


def _attack_inputs(wildcards):
    return {**net_inputs(wildcards), "adv": f"{CLS_DIR}/{wildcards.net}/adv/{wildcards.attack}.pt",
            "codecs": list(codec_ckpts([wildcards.defense]).values())}


def _sequential_inputs(wildcards):
    return {**net_inputs(wildcards), "codecs": list(codec_ckpts([wildcards.defense]).values())}


def _bpp_inputs(wildcards):
    specs = BPP_PARTS[wildcards.codec]
    return {**net_inputs(wildcards), "codecs": list(codec_ckpts(specs).values())}


# The bpp table in one job per codec (its qualities together): 300 digits through mbt2018's
# autoregressive decoder alone take ~35 s a quality, so one job for all would hold up a core.
BPP_PARTS = {}
for _spec in _bpp_defenses():
    BPP_PARTS.setdefault(_defense_steps(_spec)[0].codec, []).append(_spec)


def shared_adv(net, attack, eps_255, images=None):
    """{"adv": classify_adv's file} when it holds the through = false images a job needs (same
    attack and settings, every eps, the same seeded images), else {}: computed once, not per job."""
    same_images = images is None or images == NETS[net]["images"]
    if attack in CLS["attacks"] and same_images and set(eps_255) <= set(CLS["eps_255"]):
        return {"adv": f"{CLS_DIR}/{net}/adv/{attack}.pt"}
    return {}


ATTACK_TABLES = [
    f"{CLS_DIR}/{n}/attack/{a}/{d}.csv"
    for n in NETS
    for a in CLS["attacks"]
    for d in CLS["defenses"]
]
LINF_TABLES = [p for p in ATTACK_TABLES if Path(p).parent.name in ("fgsm", "ifgsm", "pgd")]
L2_TABLES = [p for p in ATTACK_TABLES if Path(p).parent.name in ("cw", "deepfool")]
CLS_INPUTS = {
    "linf": LINF_TABLES,
    "ifgsm": [p for p in ATTACK_TABLES if Path(p).parent.name == "ifgsm"],
    "l2": L2_TABLES,
    "ablation": [f"{CLS_DIR}/{n}/ablation/{d}.csv" for n in NETS for d in _ablation_defenses()],
    "sequential": [f"{CLS_DIR}/{n}/sequential/{d}.csv" for n in NETS for d in _sequential_defenses()],
    "bpp": [f"{CLS_DIR}/{n}/bpp/{c}.csv" for n in NETS for c in BPP_PARTS],
    "overhead": [f"{CLS_DIR}/{n}/overhead.csv" for n in NETS],
    "adaptive": [f"{CLS_DIR}/{n}/adaptive.csv" for n in CLS["adaptive"]["nets"]],
}
CLS_TABLE_KINDS = [k for k, v in CLS_INPUTS.items() if v]
CLS_FIGURE_KINDS = [k for k in ("linf", "l2", "ablation", "sequential") if CLS_INPUTS[k]]
def cls_table_settings(kind):
    """The interval seed; the L2 table and figure also read the thresholds."""
    return as_json({"seed": config["seed"], **({"l2_thresholds": CLS["l2_thresholds"]} if kind == "l2" else {})})
