"""CPU rehearsal of the whole paper DAG (issue 15, item 1): every rule of `config/paper.yaml` runs,
offline, on 2 cores, from format-exact stand-ins for its downloads.

    nice -n 19 .venv/bin/python benchmark/rehearse_paper.py [--workdir DIR] [--cores 2]
                                                            [--no-server] [--stage plan|data|run]

Stages (one progress line each):
1. config: the rehearsal overlay, `config/paper.yaml` with only the SCALE keys below changed (image
   counts, crop sizes, step/epoch counts, chunk sizes, sequential rounds, widths); the script asserts
   that every other key of the resolved config (`advcompress.config.load_tier`) equals the paper
   tier's. Written to <workdir>/rehearsal.yaml, run as `--configfile config/paper.yaml rehearsal.yaml`.
2. plan: the paper tier's DAG and the rehearsal's (`snakemake -n`) in a fresh copy of the workflow:
   the same rules, and the paper tier's table and figure targets (the inputs of `all`).
3. data: stand-ins (benchmark/standins.py) placed at exactly the outputs of the fetch rules
   (`fetch_dataset`, `fetch_weights`, `classify_fetch_classifier`) and at the user-supplied ImageNet
   folder. An existing output is not rebuilt by Snakemake, so those three rules do not run: the
   rehearsal covers everything downstream of a download, not the download and its checksum.
4. run: `snakemake --cores N all` with the warm job server any local run starts (the Snakefile's
   `onstart`; README, "Many small jobs"), then the assertions: the rules that ran equal the paper
   DAG's rules minus PLACED_RULES, and every table and figure target of the paper tier exists and
   is non-empty. Prints wall time, peak memory, job count and a per-rule table of jobs and wall
   seconds (Snakemake's benchmark files: with the server they time the client, which waits for its
   child, so their `s` column is the job's wall time; their max_rss and cpu_time are the client's
   and are not reported), and per command the wall, CPU seconds and peak RSS of each forked job
   from the job server's own log (`server_log`).
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmark.standins when run as a script

# What a clean clone's workflow is (the tests' and benchmarks' copies too: tests/conftest.py)
WORKFLOW_FILES = ["Snakefile", "workflow", "config", "profiles", "envs", "pyproject.toml"]
PAPER = "config/paper.yaml"
OVERLAY = "rehearsal.yaml"

# The only keys the rehearsal changes (path in the resolved config -> value). Everything else, every
# model, codec, dataset, classifier, attack and defense, is the paper tier's, asserted below.
SCALE: dict[tuple, object] = {
    # RD attacks (Table II, Figs.): 1 Kodak image, 64 px centre crops, 2 steps. A job's cost is its
    # real-coding assessment, a near-fixed 0.03-0.19 CPU s per coded image (stand-in widths; 64 and
    # 32 px crops cost the same to within 10-40%): SRDA codes images x directions x qualities^2 of
    # them (432 at 2 images), so the image count is the lever
    ("attack", "images"): 1,
    ("attack", "crop"): 64,
    ("attack", "steps"): 2,
    ("attack", "max_warmup_steps"): 2,
    ("attack", "chunk"): 12,
    # defenses: 2 AT steps on batches of 2 64 px patches, 2-step inner attack; 1 online step (each
    # coding of a `+online` victim, 222 per SRDA job, runs steps + 1 forward and steps backward passes)
    ("defense", "at", "steps"): 2,
    ("defense", "at", "batch_size"): 2,
    ("defense", "at", "patch"): 64,
    ("defense", "at", "attack", "steps"): 2,
    ("defense", "at", "attack", "max_warmup_steps"): 2,
    ("defense", "online", "steps"): 1,
    # compression-resistant backdoor: ResNet-18 layout at width 8, one epoch each, 2 trigger steps
    ("backdoor", "classifier", "width"): 8,
    ("backdoor", "classifier", "batch_size"): 64,
    ("backdoor", "classifier", "clean", "epochs"): 1,
    ("backdoor", "classifier", "backdoor", "epochs"): 1,
    ("backdoor", "classifier", "scale"): {"alexnet": 0.125, "vgg16": 0.125},  # AlexNet, VGG-16 (Table 4, 7)
    ("backdoor", "studies", "epochs_sweep"): [1, 2],  # Table 9: the paper's 20-100 epochs would dwarf the rest
    ("backdoor", "triggers", "trojan", "steps"): 2,
    # LIC backdoor: 2 steps on batches of 2 64 px patches, 20 downstream images
    ("backdoor", "lic", "steps"): 2,
    ("backdoor", "lic", "batch_size"): 2,
    ("backdoor", "lic", "patch"): 64,
    ("backdoor", "lic", "ds_images"): 20,
    # segmentation backdoor (and its LIRA baseline): 2 steps on 8 training mosaics, 8 test mosaics
    ("backdoor", "lic", "seg", "steps"): 2,
    ("backdoor", "lic", "seg", "train_mosaics"): 8,
    ("backdoor", "lic", "seg", "test_mosaics"): 8,
    # classifier defenses: 2 images per net, 2 attack steps, sequential rounds {1, 2}
    ("classify", "nets", "resnet50", "images"): 2,
    ("classify", "nets", "vit_b_16", "images"): 2,
    ("classify", "nets", "resnet50-imagenet", "images"): 2,
    ("classify", "nets", "vit_b_16-imagenet", "images"): 2,
    ("classify", "attacks", "cw", "steps"): 2,
    ("classify", "attacks", "deepfool", "steps"): 2,
    ("classify", "attacks", "ifgsm", "steps"): 2,
    ("classify", "attacks", "pgd", "steps"): 2,
    ("classify", "sequential", "rounds"): [1, 2],
    ("classify", "sequential", "learned_rounds"): [1, 2],   # ELIC/HiFiC sequential (paper: 1-7)
    ("classify", "bpp", "images"): 2,
    ("classify", "overhead", "images"): 2,
    ("classify", "adaptive", "images"): 2,
}

# Rules whose outputs the stand-ins are: placed, so Snakemake does not run them.
PLACED_RULES = {"fetch_dataset", "fetch_weights", "classify_fetch_classifier"}
# The stand-ins' sizes (scale, not format): 2 Kodak-named images of 64x96 instead of 24 of 512x768
# (every clean-coding and LIC-evaluation job codes the whole folder: 172 jobs), 8 DIV2K images, 100
# CIFAR-10 images per batch, 2 Imagenette images per class and split, 1 ImageNet image per class.
KODAK_N, KODAK_SIZE, DIV2K_N, CIFAR_PER_BATCH, IMAGENETTE_PER_CLASS = 2, (64, 96), 8, 100, 2


class RehearsalError(Exception):
    pass


def say(stage: str, msg: str) -> None:
    print(f"[rehearse {time.strftime('%H:%M:%S')}] {stage}: {msg}", flush=True)


# -- 1. config ------------------------------------------------------------------------------------


def _get(cfg: dict, path: tuple):
    for key in path:
        if not isinstance(cfg, dict) or key not in cfg:
            raise RehearsalError(f"scale key {'.'.join(path)} is not in the paper tier's config")
        cfg = cfg[key]
    return cfg


def _leaves(cfg, path=()):
    if isinstance(cfg, dict) and cfg:
        for k, v in cfg.items():
            yield from _leaves(v, (*path, k))
    else:
        yield path, cfg


def overlay() -> dict:
    """The rehearsal's overlay: the SCALE keys only, nested."""
    out: dict = {}
    for path, value in SCALE.items():
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = copy.deepcopy(value)
    return out


def check_config(root: Path, overlay_file: Path) -> tuple[dict, dict]:
    """(paper, rehearsal) configs as Snakemake runs them; raises unless they differ in SCALE keys only."""
    from advcompress.config import load_tier

    paper = load_tier(PAPER, root=root)
    rehearsal = load_tier(PAPER, overlay_file, root=root)
    for path in SCALE:
        _get(paper, path)
    a, b = dict(_leaves(paper)), dict(_leaves(rehearsal))
    if set(a) != set(b):
        raise RehearsalError(f"keys differ from the paper tier's: {sorted(set(a) ^ set(b))[:5]}")
    changed = {p for p in a if a[p] != b[p]}
    outside = sorted(".".join(p) for p in changed if not any(p[: len(s)] == s for s in SCALE))
    if outside:
        raise RehearsalError(f"the rehearsal changes keys that are not scale keys: {outside}")
    for path, value in SCALE.items():
        if _get(rehearsal, path) != value:
            raise RehearsalError(f"scale key {'.'.join(path)} is {_get(rehearsal, path)!r}, not {value!r}")
    return paper, rehearsal


# -- 2. plan --------------------------------------------------------------------------------------


def copy_workflow(dest: Path, rev: str | None = None) -> Path:
    """The workflow's files in `dest`: from the working tree, or with `rev` from that commit,
    together with its library (`dest/src`, put first on the jobs' PYTHONPATH), so that edits in
    progress in the working tree cannot reach a run that takes many minutes."""
    dest.mkdir(parents=True, exist_ok=True)
    if rev:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, *WORKFLOW_FILES, "src"],
                                 capture_output=True, check=False)
        if archive.returncode != 0:
            raise RehearsalError(f"git archive {rev} failed: {archive.stderr.decode()[-300:]}")
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
        return dest
    for name in WORKFLOW_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
        else:
            shutil.copy2(src, dest / name)
    return dest


def snakemake(workdir: Path, *args: str, env: dict | None = None, log: Path | None = None,
              cores: int = 2) -> subprocess.CompletedProcess:
    cmd = [str(Path(sys.executable).with_name("snakemake")), "--cores", str(cores), *args]
    env = {**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})}
    if log is None:
        return subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env=env)
    with open(log, "w") as out:
        return subprocess.run(cmd, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, text=True, env=env)


def dry_run_jobs(text: str) -> list[tuple[str, dict[str, list[str]], str]]:
    """(rule, {field: values}, the job's whole text) of every job a dry run prints; with `-p` the
    text holds the job's shell command."""
    jobs = []
    for block in re.split(r"^(?=(?:local)?rule \w+:$)", text, flags=re.M)[1:]:
        rule = re.match(r"(?:local)?rule (\w+):", block)[1]
        jobs.append((rule, {k: v.split(", ") for k, v in re.findall(r"^    (\w+): (.*)$", block, re.M)}, block))
    return jobs


def plan(workdir: Path, *configfiles: str) -> tuple[dict[str, int], list[str], dict[str, list[str]]]:
    """(jobs per rule, inputs of `all`, outputs per rule) of `snakemake -n` with `configfiles`."""
    proc = snakemake(workdir, "-n", "--configfile", *configfiles)
    if proc.returncode != 0:
        raise RehearsalError(f"dry run with {' '.join(configfiles)} failed: {(proc.stderr or proc.stdout)[-2000:]}")
    text = proc.stdout + proc.stderr
    counts = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", text.split("Job stats:")[-1], re.M)}
    counts.pop("total", None)
    outputs: dict[str, list[str]] = {}
    targets: list[str] = []
    for rule, fields, _ in dry_run_jobs(text):
        if "output" in fields:
            outputs.setdefault(rule, []).extend(fields["output"])
        if rule == "all":
            targets = fields["input"]
    return counts, targets, outputs


# -- 3. data --------------------------------------------------------------------------------------


def place_standins(workdir: Path, cfg: dict, outputs: dict[str, list[str]]) -> list[str]:
    """Stand-ins at every output of the fetch rules (and the user's ImageNet folder); returns them."""
    from benchmark import standins

    placed = []
    for out in outputs.get("fetch_dataset", []):
        path = workdir / out
        name = path.name
        if name == "eval":
            standins.kodak(path, KODAK_SIZE, n=KODAK_N)
        elif name == "train":
            standins.div2k(path, DIV2K_N)
        elif name == "cifar10":
            standins.cifar10(path, CIFAR_PER_BATCH)
        elif name == "imagenette":
            standins.imagenette(path, IMAGENETTE_PER_CLASS)
        else:
            raise RehearsalError(f"no stand-in for dataset {out}")
        placed.append(out)
    for out in outputs.get("fetch_weights", []):
        m = re.fullmatch(r".*/weights/([^/]+)/q(\w+)\.pth\.tar", out)
        if not m:
            raise RehearsalError(f"unexpected fetch_weights output {out}")
        standins.codec_checkpoint(workdir / out, m[1], m[2], standins.REHEARSAL_WIDTHS.get(m[1]))
        placed.append(out)
    for out in outputs.get("classify_fetch_classifier", []):
        standins.torchvision_weights(workdir / out, Path(out).stem)
        placed.append(out)
    for net in cfg["classify"]["nets"].values():
        if net.get("dataset") == "imagenet":
            standins.imagenet_val(workdir / net["path"])
            placed.append(net["path"])
    return placed


# -- 4. run ---------------------------------------------------------------------------------------


def server_log(workdir: Path) -> Path:
    """The log of the job server the Snakefile's `onstart` starts for a local run
    (`advcompress.commands.serve.start_background`): one line per job with its CPU and peak RSS."""
    from advcompress.config import load_tier

    return workdir / "logs" / load_tier(PAPER, root=workdir)["tier"] / "job_server.log"


def ran_rules(log_text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for rule in re.findall(r"^(?:local)?rule (\w+):$", log_text, re.M):
        counts[rule] = counts.get(rule, 0) + 1
    return counts


def benchmark_table(workdir: Path, tier: str) -> list[tuple[str, int, float, float]]:
    """(rule, jobs, summed wall s, largest wall s) from benchmarks/<tier>/<rule>/*.tsv."""
    rows = []
    for rule_dir in sorted((workdir / "benchmarks" / tier).iterdir()):
        secs = []
        for tsv in rule_dir.rglob("*.tsv"):
            lines = tsv.read_text().splitlines()
            if len(lines) >= 2:
                secs.append(float(lines[1].split("\t")[0]))
        if secs:
            rows.append((rule_dir.name, len(secs), sum(secs), max(secs)))
    return sorted(rows, key=lambda r: -r[2])


def server_table(jobs_log: Path) -> list[tuple[str, int, float, float, float]]:
    """(command, jobs, wall s, CPU s, largest peak RSS MiB) from the job server's log, which times
    each forked child itself (`advcompress.commands.serve.job_costs`)."""
    from advcompress.commands.serve import job_costs

    rows: dict[str, list] = {}
    for job in job_costs(jobs_log.read_text() if jobs_log.exists() else ""):
        row = rows.setdefault(job["argv"][0], [0, 0.0, 0.0, 0.0])
        row[0] += 1
        row[1] += job["wall_s"]
        row[2] += job["cpu_s"]
        row[3] = max(row[3], job["rss_mib"])
    return sorted(((c, *r) for c, r in rows.items()), key=lambda r: -r[2])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp") / f"{os.environ.get('USER', 'user')}-rehearse-paper",
                    help="fresh copy of the workflow (replaced if present)")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--no-server", action="store_true", help="each job in its own process (for resource sizing)")
    ap.add_argument("--stage", choices=["plan", "data", "run"], default="run", help="stop after this stage")
    ap.add_argument("--from-git", metavar="REV", default="HEAD",
                    help="run the workflow and library of this commit (default HEAD); '' for the working tree")
    ap.add_argument("--keep-going", action="store_true", help="snakemake --keep-going (report every failing rule)")
    a = ap.parse_args(argv)
    try:
        return rehearse(a)
    except RehearsalError as e:
        print(f"rehearse_paper: error: {e}", file=sys.stderr)
        return 1


def rehearse(a) -> int:
    t0 = time.monotonic()
    work = a.workdir.resolve()
    if work.exists():
        shutil.rmtree(work)
    copy_workflow(work, a.from_git or None)
    if a.from_git:  # this process, Snakemake, the server and its jobs all import the snapshot's library
        sys.path.insert(0, str(work / "src"))
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(work / "src"), os.environ.get("PYTHONPATH")]))
        for name in [m for m in sys.modules if m == "advcompress" or m.startswith("advcompress.")]:
            del sys.modules[name]
    (work / OVERLAY).write_text(
        "# CPU rehearsal of the paper tier: scale keys only (benchmark/rehearse_paper.py, SCALE)\n"
        + yaml.safe_dump(overlay(), sort_keys=False))
    paper, rehearsal = check_config(work, work / OVERLAY)
    say("config", f"{work / OVERLAY}: {len(SCALE)} scale keys changed, every other key equals {PAPER}'s")

    paper_counts, targets, outputs = plan(work, PAPER)
    counts, _, _ = plan(work, PAPER, OVERLAY)
    if set(counts) != set(paper_counts):
        raise RehearsalError(f"the rehearsal plans other rules than the paper tier: {sorted(set(counts) ^ set(paper_counts))}")
    tier = paper["results"].split("/")[-1] if paper["results"] != "results" else "default"
    tables = [t for t in targets if "/tables/" in t or "/figures/" in t]
    say("plan", f"paper tier {sum(paper_counts.values())} jobs of {len(paper_counts)} rules; rehearsal "
                f"{sum(counts.values())} jobs of the same rules; {len(tables)} table and figure targets")
    if a.stage == "plan":
        return 0

    placed = place_standins(work, rehearsal, outputs)
    after, _, _ = plan(work, PAPER, OVERLAY)
    expected = set(paper_counts) - PLACED_RULES
    if set(after) != expected:
        raise RehearsalError(f"with the stand-ins placed the plan's rules are not the paper's minus "
                             f"{sorted(PLACED_RULES)}: {sorted(set(after) ^ expected)}")
    say("data", f"{len(placed)} stand-ins placed at the fetch rules' outputs; {sum(after.values())} jobs left "
                f"of {len(after)} rules ({', '.join(sorted(PLACED_RULES))} not run)")
    if a.stage == "data":
        return 0

    from advcompress.commands.serve import ENV

    log = work / "rehearsal.log"
    start = time.monotonic()
    # The server is the one a local run gets (the Snakefile's onstart), a child of Snakemake: not one
    # this shell happens to name; --no-server switches it off as a user would.
    args = ["--configfile", PAPER, OVERLAY, *(["--config", "job_server=False"] if a.no_server else []),
            *(["--keep-going"] if a.keep_going else []), "all"]
    cmd = [str(Path(sys.executable).with_name("snakemake")), "--cores", str(a.cores), *args]
    env = {k: v for k, v in os.environ.items() if k != ENV}
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=work, stdout=out, stderr=subprocess.STDOUT, text=True,
                                env={**env, "PYTHONWARNINGS": "ignore"})
    from benchmark.memory import TreeMemory

    peak = TreeMemory(proc.pid)  # Snakemake, the server and its jobs: all in Snakemake's tree
    rc = proc.wait()
    wall = time.monotonic() - start
    peak_mib = peak.stop()
    # Every waited-for descendant. Not the server's jobs: it lets the kernel reap them (SIGCHLD
    # ignored), which drops their usage, so they are added from the server's own log below.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    largest, cpu = usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime  # MiB, CPU s
    text = log.read_text()
    ran = ran_rules(text)
    say("run", f"snakemake rc {rc} in {wall:.0f} s wall; {sum(ran.values())} jobs started; log {log}")
    if rc != 0:
        failed = sorted(set(re.findall(r"^Error in rule (\w+):", text, re.M)))
        raise RehearsalError(f"snakemake failed (rc {rc}) in rule(s) {failed or '?'}; see {log}")

    missing_rules = expected - set(ran)
    extra_rules = set(ran) - expected
    empty = [t for t in tables if not (work / t).is_file() or (work / t).stat().st_size == 0]
    print(f"\n{'rule':<32}{'jobs':>6}{'wall s':>10}{'max s':>8}")
    rows = benchmark_table(work, tier)
    for rule, n, s, mx in rows:
        print(f"{rule:<32}{n:>6}{s:>10.1f}{mx:>8.1f}")
    print(f"{'total':<32}{sum(r[1] for r in rows):>6}{sum(r[2] for r in rows):>10.1f}")
    served = server_table(server_log(work))
    if served:  # the server's own accounting of each forked job: CPU and memory the benchmark files miss
        print(f"\n{'command (job server)':<32}{'jobs':>6}{'wall s':>10}{'CPU s':>10}{'peak MiB':>10}")
        for command, n, w, c, r in served:
            print(f"{command:<32}{n:>6}{w:>10.1f}{c:>10.1f}{r:>10.0f}")
    print(f"\nwall {wall:.0f} s ({wall / 60:.1f} min) for {sum(ran.values())} jobs on {a.cores} cores"
          f"{'' if a.no_server else ' with the warm job server'}; whole run {time.monotonic() - t0:.0f} s with set-up")
    served_cpu = sum(r[3] for r in served)
    largest = max([largest, *(r[4] for r in served)])
    print(f"CPU: {cpu + served_cpu:.0f} s user+sys, {served_cpu:.0f} s of them the served jobs' (the server's "
          f"log) and {cpu:.0f} s every other process this script started (three dry runs, Snakemake, the "
          f"server, the jobs' clients; not the stand-in builds, which run in this process): "
          f"{(cpu + served_cpu) / max(wall, 1):.2f} of {a.cores} cores busy on average over the run")
    print(f"peak memory: {peak_mib:.0f} MiB summed over Snakemake, the server and its jobs (sampled "
          f"every 0.5 s); largest single process {largest:.0f} MiB (getrusage of the waited-for "
          f"descendants and the server's log of its jobs)")
    if missing_rules or extra_rules:
        raise RehearsalError(f"rules run differ from the paper DAG minus {sorted(PLACED_RULES)}: "
                             f"not run {sorted(missing_rules)}, unexpected {sorted(extra_rules)}")
    if empty:
        raise RehearsalError(f"{len(empty)} table/figure targets missing or empty, e.g. {empty[:5]}")
    say("check", f"rules run = paper DAG's {len(expected)} rules minus the placed {sorted(PLACED_RULES)}; "
                 f"all {len(tables)} table and figure targets written and non-empty")
    return 0


if __name__ == "__main__":
    sys.exit(main())
