"""Rate-distortion attacks on learned codecs: SRDA, ARDA and the single-dimension variants.

One registry (`ATTACKS`, `register_attack`, `get_attack`). Every attack optimises a perturbation
delta of a batch in which each sample carries its own direction (gamma_r, gamma_d), so all
images x directions of a submodel are attacked as one batch; samples never interact (the loss is
a sum of per-sample losses and Adam is element-wise), so a batch gives the same perturbations as
a loop over its samples.

Budget (Eq. 2): ||delta|| is the mean squared perturbation on [0, 1]; whenever it exceeds epsilon
delta is scaled radially back onto the sphere, which is the exact minimiser of lines 3-5 of
Algorithm 1. T steps are counted per sample from the first time it reaches the sphere; the learning
rate drops from `lr` to `lr_final` after T/2 of them. The output is clipped to [0, 1] and quantised
to 8 bits (what an image file holds).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields

import torch

from advcompress.codecs.learned import PROXIES, estimated_bpp, per_sample_noise
from advcompress.device import to_python
from advcompress.metrics import mse255, perturbation_norm, quantize_8bit

# The six directions (gamma_r, gamma_d) of the paper (Sec. IV.A), D on the 0-255 scale.
PAPER_DIRECTIONS = {
    "sra": (1.0, 0.0),
    "rd2e-4": (1.0, 2e-4),
    "rd2e-3": (1.0, 2e-3),
    "rd2e-2": (1.0, 2e-2),
    "rd2e-1": (1.0, 0.2),
    "sda": (0.0, 1.0),
}


@dataclass(frozen=True)
class AttackSettings:
    """Hyperparameters of SRDA/ARDA (paper values as defaults)."""

    epsilon: float = 1e-3  # budget on the mean squared perturbation, [0, 1] scale
    steps: int = 64  # T: steps on the epsilon-sphere
    lr: float = 1e-2
    lr_final: float = 1e-3  # after T/2 steps on the sphere
    max_warmup_steps: int = 64  # a sample that never reaches the sphere starts counting after this
    proxy: str = "ste"  # gradient path through rounding: ste | noise | hybrid (codecs.learned.PROXIES)
    tau: float = 1.0  # ARDA softmax temperature (Eq. 5)
    chunk: int = 64  # most samples (image x direction pairs) per batch
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict | None) -> AttackSettings:
        known = {f.name for f in fields(cls)}
        s = cls(**{k: v for k, v in (d or {}).items() if k in known})
        if s.proxy not in PROXIES or s.proxy == "none":
            raise ValueError(f"attack proxy must be one of {', '.join(PROXIES[1:])} (rounding has no gradient), "
                             f"not {s.proxy!r}")
        return s


@dataclass
class AttackResult:
    x_adv: torch.Tensor  # B x C x H x W, clipped and 8-bit quantised
    log: list[dict]  # one row per step and sample
    reached: torch.Tensor  # B bools: did the sample reach the epsilon-sphere
    steps_total: torch.Tensor  # B ints: updates made


# -- the loss of one submodel (Eq. 3) ------------------------------------------------------------


def rd_terms(codec, x_a: torch.Tensor, proxy: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample estimated rate (bpp) and distortion D(x_a) = MSE255(x_hat_a, x_a) via the proxy."""
    out = codec.forward(x_a, proxy=proxy)
    h, w = x_a.shape[-2:]
    return estimated_bpp(out, h * w), mse255(out["x_hat"].clamp(0, 1), x_a)


def srda_loss(codec, x_a, gammas, proxy) -> tuple[torch.Tensor, dict]:
    """L_s = -gamma_r R(x_a) - gamma_d D(x_a), per sample."""
    r, d = rd_terms(codec, x_a, proxy)
    return -(gammas[:, 0] * r + gammas[:, 1] * d), {"bpp_proxy": r, "mse255_proxy": d}


def arda_weights(l_init: torch.Tensor, l_now: torch.Tensor, tau: float) -> torch.Tensor:
    """Eq. 5: softmax over submodels of (L_init / L_now) / tau, per sample (B x K).

    L_s is negative and grows in magnitude as a submodel is hurt, so the ratio falls for the
    submodels already attacked well and their weight shrinks.
    """
    den = torch.where(l_now.abs() < 1e-12, torch.full_like(l_now, -1e-12), l_now)
    return torch.softmax((l_init / den) / tau, dim=1)


# -- the optimiser shared by every attack --------------------------------------------------------


def project_to_ball(delta: torch.Tensor, epsilon: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale each sample with ||delta|| > epsilon radially onto the sphere; returns (delta, norm before)."""
    norm = perturbation_norm(delta)
    scale = torch.where(norm > epsilon, torch.sqrt(epsilon / norm.clamp_min(1e-30)), torch.ones_like(norm))
    return delta * scale.view(-1, *([1] * (delta.dim() - 1))), norm


@contextlib.contextmanager
def input_gradient_only(codecs: Sequence) -> Iterator[None]:
    """Inside the block the codecs' parameters need no gradient (restored after, as adversarial
    training attacks the codec it trains): the attack wants the input's gradient alone, and the
    forward then records no graph through the weights (entropy models' parametrisations, GDN's
    reparametrised beta and gamma) that the backward would have to walk past."""
    modules = [c for c in codecs if isinstance(c, torch.nn.Module)]  # a test's stand-in may have no weights
    params = [p for c in modules for p in c.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def optimise_perturbation(
    loss_fn: Callable[[torch.Tensor, int], tuple[torch.Tensor, dict]], x: torch.Tensor, s: AttackSettings
) -> AttackResult:
    """Adam on delta (per-sample learning rate and step count) under the epsilon budget.

    `loss_fn(x_a, step)` returns the per-sample loss to minimise and a dict of per-sample
    quantities to log. Written out (not torch.optim.Adam) because each sample has its own
    schedule: its lr drops and it stops after its own T steps on the sphere.
    """
    b = x.shape[0]
    view = (-1, *([1] * (x.dim() - 1)))
    delta = torch.zeros_like(x)
    m, v = torch.zeros_like(x), torch.zeros_like(x)
    t = torch.zeros(b, device=x.device)
    on_sphere = torch.zeros(b, dtype=torch.long, device=x.device)
    reached = torch.zeros(b, dtype=torch.bool, device=x.device)
    active = torch.ones(b, dtype=torch.bool, device=x.device)
    beta1, beta2, eps_adam = 0.9, 0.999, 1e-8
    per_step: list[dict] = []  # this step's per-sample values, kept on the device
    step = 0
    while active.any():
        d = delta.clone().requires_grad_(True)
        loss, info = loss_fn((x + d).clamp(0, 1), step)
        info = {k: val.detach() for k, val in info.items()}
        (grad,) = torch.autograd.grad(loss.sum(), d)
        counting = reached | (step >= s.max_warmup_steps)
        lr = torch.where(counting & (on_sphere >= s.steps // 2), s.lr_final, s.lr)
        a = active.float().view(view)
        t = t + active.float()
        m = torch.where(a.bool(), beta1 * m + (1 - beta1) * grad, m)
        v = torch.where(a.bool(), beta2 * v + (1 - beta2) * grad * grad, v)
        tt = t.clamp_min(1).view(view)
        update = (lr.view(view) * (m / (1 - beta1**tt))) / ((v / (1 - beta2**tt)).sqrt() + eps_adam)
        delta = (delta - a * update).detach()
        delta, norm = project_to_ball(delta, s.epsilon)
        on_sphere = on_sphere + (active & counting).long()
        reached = reached | (norm >= s.epsilon * (1 - 1e-6))
        per_step.append({"active": active.clone(), "loss": loss.detach(), "lr": lr,
                         "norm": perturbation_norm(delta), "on_sphere_steps": on_sphere.clone(), **info})
        active = active & (on_sphere < s.steps)
        step += 1
    return AttackResult(to_8bit_within_budget(x, delta, s.epsilon), step_log(per_step), reached.cpu(), t.long().cpu())


def step_log(per_step: list[dict]) -> list[dict]:
    """One row per step and sample from per-step dicts of per-sample tensors (B, or B x K for a
    list-valued column): each column is stacked over the steps and leaves the device once."""
    if not per_step:
        return []
    cols = {k: to_python(torch.stack([row[k] for row in per_step])) for k in per_step[0]}
    b = len(cols["loss"][0])
    return [{"step": step, "sample": i, **{k: v[step][i] for k, v in cols.items()}}
            for step in range(len(per_step)) for i in range(b)]


def to_8bit_within_budget(x: torch.Tensor, delta: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Clip, quantise to 8 bits, and keep ||x_adv - x|| <= epsilon exactly.

    Rounding is correlated with delta (Adam moves pixels by similar amounts), so it can push the
    norm a few percent past epsilon; shrink those samples' delta radially until the 8-bit image
    is inside the budget (x itself is 8-bit, so delta = 0 always satisfies it).
    """
    view = (-1, *([1] * (x.dim() - 1)))
    x_adv = quantize_8bit(x + delta)
    for _ in range(200):
        norm = perturbation_norm(x_adv - x)
        over = norm > epsilon
        if not over.any():
            break
        shrink = torch.where(over, torch.sqrt(epsilon / norm) * 0.995, torch.ones_like(norm))
        delta = delta * shrink.view(view)
        x_adv = torch.where(over.view(view), quantize_8bit(x + delta), x_adv)
    return x_adv


# -- the attacks -------------------------------------------------------------------------------


def _gammas(gammas, b: int, device) -> torch.Tensor:
    g = torch.as_tensor(gammas, dtype=torch.float32, device=device)
    g = g.expand(b, 2) if g.dim() == 1 else g
    if g.shape != (b, 2):
        raise ValueError(f"gammas must be (2,) or ({b}, 2), got {tuple(g.shape)}")
    return g


def srda(codec, x: torch.Tensor, gammas, settings: AttackSettings | dict | None = None) -> AttackResult:
    """Specific-ratio RD attack (Algorithm 1) of one submodel on a batch.

    `gammas` is one (gamma_r, gamma_d) for the whole batch or one row per sample.
    """
    s = settings if isinstance(settings, AttackSettings) else AttackSettings.from_dict(settings)
    g = _gammas(gammas, x.shape[0], x.device)

    def loss_fn(x_a, _step):
        return srda_loss(codec, x_a, g, s.proxy)

    with input_gradient_only([codec]):
        return optimise_perturbation(loss_fn, x, s)


def arda(codecs: Sequence, x: torch.Tensor, gammas, settings: AttackSettings | dict | None = None) -> AttackResult:
    """Agnostic-ratio RD attack (Algorithm 2): one perturbation against all submodels `codecs`.

    L_f = sum_k w_k L_s^(k) with w = softmax((L_init / L_s) / tau) recomputed every step from the
    current losses (treated as constants: the weights steer, they are not optimised).
    """
    s = settings if isinstance(settings, AttackSettings) else AttackSettings.from_dict(settings)
    g = _gammas(gammas, x.shape[0], x.device)
    state: dict = {}

    def loss_fn(x_a, step):
        per = [srda_loss(c, x_a, g, s.proxy)[0] for c in codecs]
        losses = torch.stack(per, dim=1)  # B x K
        if step == 0:
            state["init"] = losses.detach()
        w = arda_weights(state["init"], losses.detach(), s.tau)
        return (w * losses).sum(1), {"weights": w, "losses": losses.detach()}

    with input_gradient_only(codecs):
        return optimise_perturbation(loss_fn, x, s)


# -- registry ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attack:
    """A registered attack. `scope` is `submodel` (one codec) or `algorithm` (all submodels);
    `direction` fixes (gamma_r, gamma_d) for single-dimension variants."""

    name: str
    scope: str
    run: Callable
    direction: tuple[float, float] | None = None
    description: str = ""

    def __call__(self, codecs, x, gammas=None, settings=None) -> AttackResult:
        if self.direction is not None:
            gammas = self.direction
        if gammas is None:
            raise ValueError(f"attack {self.name} needs a direction (gamma_r, gamma_d)")
        if self.scope == "submodel":
            if isinstance(codecs, Sequence):
                if len(codecs) != 1:
                    raise ValueError(f"{self.name} attacks one submodel; got {len(codecs)}")
                codecs = codecs[0]
            return self.run(codecs, x, gammas, settings)
        return self.run(list(codecs) if isinstance(codecs, Sequence) else [codecs], x, gammas, settings)


ATTACKS: dict[str, Attack] = {}


def register_attack(attack: Attack) -> Attack:
    if attack.name in ATTACKS:
        raise ValueError(f"attack {attack.name!r} is registered twice")
    ATTACKS[attack.name] = attack
    return attack


def get_attack(name: str) -> Attack:
    try:
        return ATTACKS[name]
    except KeyError:
        raise KeyError(f"unknown attack {name!r}; registered: {', '.join(sorted(ATTACKS))}") from None


register_attack(Attack("srda", "submodel", srda, None, "specific-ratio joint RD attack (Alg. 1)"))
register_attack(Attack("arda", "algorithm", arda, None, "agnostic-ratio joint RD attack (Alg. 2)"))
register_attack(Attack("sra", "submodel", srda, (1.0, 0.0), "rate-only special case of SRDA"))
register_attack(Attack("sda", "submodel", srda, (0.0, 1.0), "distortion-only special case of SRDA"))


# -- images x directions as chunked batches --------------------------------------------------------


def attack_grid(
    attack: str | Attack,
    codecs,
    images: torch.Tensor,
    directions: dict[str, Sequence[float]],
    settings: AttackSettings | dict | None = None,
) -> dict:
    """Attack every image under every direction, as batches of at most `settings.chunk` samples.

    Returns {"x_adv": {direction: N x C x H x W}, "log": rows with image/direction/chunk,
    "reached": {direction: N bools}, "steps_total": {direction: N ints}}.
    """
    atk = get_attack(attack) if isinstance(attack, str) else attack
    s = settings if isinstance(settings, AttackSettings) else AttackSettings.from_dict(settings)
    if atk.direction is not None:
        directions = {atk.name: atk.direction}
    names = list(directions)
    n = images.shape[0]
    pairs = [(d, i) for d in names for i in range(n)]  # direction-major
    x_all = torch.cat([images for _ in names])
    g_all = torch.tensor([list(map(float, directions[d])) for d, _ in pairs], device=images.device)
    x_adv = torch.empty_like(x_all)
    reached = torch.zeros(len(pairs), dtype=torch.bool)
    steps = torch.zeros(len(pairs), dtype=torch.long)
    log = []
    for c, start in enumerate(range(0, len(pairs), max(1, s.chunk))):
        sl = slice(start, min(start + s.chunk, len(pairs)))
        # A noise-based proxy draws each sample's noise from its own generator, seeded by the sample's
        # place in the grid: the same attack whatever the chunk size.
        generators = [torch.Generator().manual_seed(s.seed * 1_000_003 + k) for k in range(sl.start, sl.stop)]
        with per_sample_noise(generators):
            res = atk(codecs, x_all[sl], g_all[sl], s)
        x_adv[sl], reached[sl], steps[sl] = res.x_adv, res.reached, res.steps_total
        for row in res.log:
            d, i = pairs[start + row["sample"]]
            log.append({**row, "sample": start + row["sample"], "direction": d, "image": i, "chunk": c})
    return {
        "x_adv": {d: x_adv[k * n : (k + 1) * n] for k, d in enumerate(names)},
        "reached": {d: reached[k * n : (k + 1) * n] for k, d in enumerate(names)},
        "steps_total": {d: steps[k * n : (k + 1) * n] for k, d in enumerate(names)},
        "log": log,
    }
