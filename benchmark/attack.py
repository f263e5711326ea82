"""Speed of the RD-attack stage: wall time and peak memory, and batched vs looped throughput.

    # batched (all images x directions in one batch) vs one image-direction at a time
    python benchmark/attack.py throughput --model mbt2018 --quality 2 \
        --checkpoint results/checkpoints/codecs/mbt2018/q2.pt --eval-dir data/default/eval

    # the attack stage (Table II and its figures) timed in a clean copy of the workflow
    python benchmark/attack.py stage [--configfile config/config.yaml] [--cores 2] [--workdir DIR]

`throughput` also checks that the two give the same perturbations (8-bit images) within a
tolerance: at most one quantisation level apart on < 1% of the pixels, and prints the batched
attack's time per iteration over that of a bare forward + input-gradient backward of the same
batch (the floor; target <= 1.2).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bare_forward_backward_s(codec, x, proxy: str, repeats: int = 10) -> float:
    """The floor of one attack step: the codec's forward and the input gradient of R + D, nothing else."""
    import torch

    from advcompress.attack.algorithms import rd_terms

    times = []
    for _ in range(repeats + 1):
        d = torch.zeros_like(x, requires_grad=True)
        t0 = time.perf_counter()
        r, dist = rd_terms(codec, (x + d).clamp(0, 1), proxy)
        torch.autograd.grad((r + dist).sum(), d)
        times.append(time.perf_counter() - t0)
    return sorted(times[1:])[len(times[1:]) // 2]  # median, first call (allocations) dropped


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
    floor_s = bare_forward_backward_s(codec, torch.cat([x] * len(dirs)), settings["proxy"])  # also warms up

    def timed(chunk):
        """Best of `repeats` runs: the first run of a shape pays for allocations and thread start-up."""
        best, out = float("inf"), None
        for _ in range(a.repeats):
            t = time.perf_counter()
            out = attack_grid("srda", codec, x, dirs, {**settings, "chunk": chunk})
            best = min(best, time.perf_counter() - t)
        return best, out

    batched_s, batched = timed(samples)
    looped_s, looped = timed(1)
    iters = 1 + max(row["step"] for row in batched["log"])
    worst, frac = 0.0, 0.0
    for d in dirs:
        diff = (batched["x_adv"][d] - looped["x_adv"][d]).abs()
        worst = max(worst, float(diff.max()) * 255)
        frac = max(frac, float((diff > 1e-6).float().mean()))
    ok = worst <= 1.0 + 1e-3 and frac < 0.01
    print(json.dumps({
        "model": a.model, "quality": a.quality, "samples": samples, "image_size": list(x.shape[-2:]),
        "steps_T": settings["steps"], "threads": a.threads,
        "batched_s": round(batched_s, 2), "looped_s": round(looped_s, 2), "repeats": a.repeats,
        "samples_per_s_batched": round(samples / batched_s, 2), "samples_per_s_looped": round(samples / looped_s, 2),
        "speedup_batched_over_looped": round(looped_s / batched_s, 2),
        "attack_iterations": iters, "attack_step_s": round(batched_s / iters, 4),
        "bare_forward_backward_s": round(floor_s, 4),
        "attack_step_over_bare_forward_backward": round(batched_s / iters / floor_s, 3),
        "max_diff_levels": worst, "max_fraction_pixels_differing": round(frac, 5), "agree": ok,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }, indent=1))
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
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--repeats", type=int, default=3, help="timed runs of each mode; the best counts")
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
