"""Speed of the RD-attack stage: wall time and peak memory, and batched vs looped throughput.

    # batched (all images x directions in one batch) vs one image-direction at a time
    python benchmark/attack.py throughput --model mbt2018 --quality 4 \
        --checkpoint results/checkpoints/codecs/mbt2018/q4.pt --eval-dir data/default/eval [--profile 15]

    # the attack stage (Table II and its figures) timed in a clean copy of the workflow
    python benchmark/attack.py stage [--configfile config/config.yaml] [--cores 2] [--workdir DIR]

`throughput` runs the tier's attack grid (SRDA, every direction, the tier's images, crop, T and
proxy) batched and looped, interleaved (`--repeats`, the order alternating) on one thread as every
attack job does, and prints each run's wall and CPU seconds and their medians' ratio (CPU time is
the figure to read on a shared machine: on one thread it hardly moves with other processes' load,
which is printed as the load average before and after). It checks that the two give the same
perturbations (8-bit images): < 1% of the pixels differ at all and < 0.1% by more than one
quantisation level (the batched and the looped convolutions round differently, and 12 projected
steps can carry a rounding difference at one pixel a few levels: 5 levels on 0.013% of the
pixels, factorized q1, 2026-12-04). Its
floors: the batched attack's CPU time per iteration over that of a bare forward + input-gradient
backward of the same batch (target <= 1.2), and the bare forward + backward of the whole batch
against one sample at a time (`floor_speedup_bare_batch_over_one`), which bounds what batching can
gain. `--profile ROWS` adds torch.profiler's top operators of the batched grid and of one looped
sample.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bare_forward_backward_s(codec, x, proxy: str, repeats: int = 5) -> float:
    """The floor of one attack step: the codec's forward and the input gradient of R + D, nothing
    else; median CPU seconds (one thread: robust to other processes' load), the first call dropped."""
    import torch

    from advcompress.attack.algorithms import rd_terms

    times = []
    for _ in range(repeats + 1):
        d = torch.zeros_like(x, requires_grad=True)
        t0 = time.process_time()
        r, dist = rd_terms(codec, (x + d).clamp(0, 1), proxy)
        torch.autograd.grad((r + dist).sum(), d)
        times.append(time.process_time() - t0)
    return statistics.median(times[1:])


def profile_table(run, rows: int) -> str:
    """torch.profiler's operators of one call of `run`, by self CPU time."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def throughput(a) -> None:
    import torch

    from advcompress.attack.algorithms import attack_grid
    from advcompress.attack.run import centre_crop
    from advcompress.codecs import make_codec_from_settings
    from advcompress.config import load_tier
    from advcompress.data import load_image_folder

    torch.set_num_threads(a.threads)
    cfg = load_tier(a.configfile, root=Path(a.configfile).resolve().parents[1])  # <workflow>/config/<tier>.yaml
    atk = cfg["attack"]
    spec = cfg["codecs"]["learned"][a.model]
    codec = make_codec_from_settings(a.model, a.quality, {"weights": "trained", "widths": spec.get("widths"),
                                                          "device": "cpu"}, a.checkpoint)
    names, images = load_image_folder(a.eval_dir)
    n = a.images or atk["images"] or len(names)
    x = torch.cat([centre_crop(im, atk["crop"]) for im in images[:n]])
    settings = {k: atk[k] for k in ["epsilon", "lr", "lr_final", "max_warmup_steps", "proxy", "tau"]}
    settings["steps"] = a.steps or atk["steps"]
    dirs = atk["directions"]
    samples = len(x) * len(dirs)
    chunk = {"batched": samples, "looped": 1}
    load_before = os.getloadavg()
    x_all = torch.cat([x] * len(dirs))
    bare_forward_backward_s(codec, x_all, settings["proxy"], repeats=1)  # warm-up

    def floor():
        """Bare forward + backward: of the whole batch, and of one sample (median over the images)."""
        return {"batch": bare_forward_backward_s(codec, x_all, settings["proxy"], repeats=3),
                "one": statistics.median(bare_forward_backward_s(codec, x[i : i + 1], settings["proxy"], repeats=3)
                                         for i in range(len(x)))}

    def run(mode):
        return attack_grid("srda", codec, x, dirs, {**settings, "chunk": chunk[mode]})

    wall: dict[str, list[float]] = {"batched": [], "looped": []}
    cpu: dict[str, list[float]] = {"batched": [], "looped": []}
    out, floors = {}, []
    for rep in range(a.repeats):  # interleaved, the order alternating, so load drifts hit both alike
        for mode in (["batched", "looped"] if rep % 2 == 0 else ["looped", "batched"]):
            t, c = time.perf_counter(), time.process_time()
            out[mode] = run(mode)
            wall[mode].append(time.perf_counter() - t)
            cpu[mode].append(time.process_time() - c)
        floors.append(floor())
    med = {k: {m: statistics.median(v[m]) for m in v} for k, v in {"wall": wall, "cpu": cpu}.items()}
    floor_batch_s = statistics.median(f["batch"] for f in floors)
    floor_one_s = statistics.median(f["one"] for f in floors)
    iters = 1 + max(row["step"] for row in out["batched"]["log"])
    worst, frac, frac_over_one = 0.0, 0.0, 0.0
    for d in dirs:
        diff = (out["batched"]["x_adv"][d] - out["looped"]["x_adv"][d]).abs() * 255
        worst = max(worst, float(diff.max()))
        frac = max(frac, float((diff > 1e-4).float().mean()))
        frac_over_one = max(frac_over_one, float((diff > 1.0 + 1e-3).float().mean()))
    ok = frac < 0.01 and frac_over_one < 0.001
    print(json.dumps({
        "model": a.model, "quality": a.quality, "samples": samples, "image_size": list(x.shape[-2:]),
        "steps_T": settings["steps"], "proxy": settings["proxy"], "threads": a.threads, "repeats": a.repeats,
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "batched_wall_s": [round(v, 2) for v in wall["batched"]], "looped_wall_s": [round(v, 2) for v in wall["looped"]],
        "batched_cpu_s": [round(v, 2) for v in cpu["batched"]], "looped_cpu_s": [round(v, 2) for v in cpu["looped"]],
        "speedup_wall_median": round(med["wall"]["looped"] / med["wall"]["batched"], 2),
        "speedup_cpu_median": round(med["cpu"]["looped"] / med["cpu"]["batched"], 2),
        "samples_per_cpu_s_batched": round(samples / med["cpu"]["batched"], 2),
        "samples_per_cpu_s_looped": round(samples / med["cpu"]["looped"], 2),
        "attack_iterations": iters, "attack_step_cpu_s": round(med["cpu"]["batched"] / iters, 4),
        "bare_forward_backward_cpu_s": round(floor_batch_s, 4),
        "attack_step_over_bare_forward_backward": round(med["cpu"]["batched"] / iters / floor_batch_s, 3),
        "bare_forward_backward_one_sample_cpu_s": round(floor_one_s, 4),
        "floor_speedup_bare_batch_over_one": round(floor_one_s * samples / floor_batch_s, 2),
        "max_diff_levels": worst, "max_fraction_pixels_differing": round(frac, 5),
        "max_fraction_pixels_over_one_level": round(frac_over_one, 6), "agree": ok,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }, indent=1))
    if a.profile:  # the looped grid is `samples` runs like this one (the profiler's own cost grows with calls)
        first = next(iter(dirs))
        print(f"\n# torch.profiler, the batched grid ({samples} samples, chunk {samples}), top {a.profile} by self CPU")
        print(profile_table(lambda: run("batched"), a.profile))
        print(f"\n# torch.profiler, one sample of the looped grid (image 0, {first}), top {a.profile} by self CPU")
        print(profile_table(lambda: attack_grid("srda", codec, x[:1], {first: dirs[first]}, {**settings, "chunk": 1}),
                            a.profile))
    if not ok:
        sys.exit(1)


def stage_report(work: Path, cfg: dict) -> str:
    return (work / cfg["results"] / "tables" / "attack" / "table2.md").read_text()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--model", required=True)
    t.add_argument("--quality", type=int, required=True)
    t.add_argument("--checkpoint", required=True)
    t.add_argument("--eval-dir", required=True)
    t.add_argument("--configfile", default=str(ROOT / "config" / "config.yaml"))
    t.add_argument("--images", type=int, default=None)
    t.add_argument("--steps", type=int, default=None)
    t.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as every attack job)")
    t.add_argument("--repeats", type=int, default=3,
                   help="timed runs of each mode, interleaved; medians are reported")
    t.add_argument("--profile", type=int, default=0, metavar="ROWS",
                   help="also print torch.profiler's top ROWS operators of one batched and one looped run")
    sub.add_parser("stage", add_help=False)  # its options: benchmark/stage.py
    a, rest = p.parse_known_args()
    if a.mode == "stage":
        sys.path.insert(0, str(ROOT))
        from benchmark.stage import Stage, run

        run(Stage("attack", ceiling_s=6 * 60, report=stage_report), __doc__, rest)
    else:
        throughput(p.parse_args())


if __name__ == "__main__":
    main()
