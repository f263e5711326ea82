"""Defense specs, parsed without torch: Snakemake plans the classifier study from them.

A defense spec is `none`, or steps joined by `+`, each `<codec>@<quality>` with an optional
`x<N>` for N sequential rounds of the same codec: `jpeg@25`, `jpeg@25x3`,
`bmshj2018-hyperprior@4+jpeg@50`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_STEP = re.compile(r"^(?P<codec>[A-Za-z0-9_.-]+)@(?P<quality>\d+(?:\.\d+)?)(?:x(?P<rounds>\d+))?$")


@dataclass(frozen=True)
class Step:
    codec: str
    quality: str
    rounds: int = 1

    @property
    def key(self) -> str:
        return f"{self.codec}@{self.quality}"


def parse_defense(spec: str) -> list[Step]:
    """The steps of a defense spec; `none` is the empty chain."""
    if spec == "none":
        return []
    steps = []
    for part in spec.split("+"):
        m = _STEP.match(part)
        if not m:
            raise ValueError(f"defense step {part!r} of {spec!r} is not <codec>@<quality>[x<rounds>]")
        rounds = int(m["rounds"] or 1)
        if rounds < 1:
            raise ValueError(f"defense step {part!r} needs at least one round")
        steps.append(Step(m["codec"], m["quality"], rounds))
    return steps


def defense_codecs(spec: str) -> list[str]:
    """The distinct `<codec>@<quality>` keys a spec needs (for checkpoints)."""
    return sorted({s.key for s in parse_defense(spec)})
