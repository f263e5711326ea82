"""DVC as the README says (issue 18).

The block of README's "Data and checkpoints under DVC" is read from the README and run as it stands,
in real git clones of this project (DVC in SCM mode, so git's ignore rules apply) against a
temporary local remote: the README's default remote, `../advcompress-dvc-store`, resolves beside the
clones in a temporary folder. The test chooses only the block's first line, the tier assignment, and
takes that from the README too (the line names each tier's).

The smoke tier reuses the session's smoke run (conftest.smoke_run): its data and results are copied
into the first clone as a finished run leaves them, and the block versions and pushes them. Its
.snakemake metadata is not copied, as a fresh clone has none: the restore must work without it. In
the second clone a plain `dvc pull` comes first, put in the worst order, to show what the block's
`--pull` is for. The paper tier uses small stand-in files at the paths its rules write (read from the
parsed workflow); there the block's `--pull` restores into an empty clone. Planning the paper tier
needs its real data, so that test leaves out the block's `snakemake -n`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from advcompress.config import load_tier
from tests.conftest import ROOT

README = ROOT / "README.md"
SECTION = "## Data and checkpoints under DVC"
INSPECT = ROOT / "tests" / "cluster" / "inspect_workflow.py"
# Every rule that trains (and writes a checkpoint), and every rule that downloads.
TRAINING = {"train_lic", "defense_train_at", "classify_train", "backdoor_clean_classifier", "backdoor_trigger",
            "backdoor_train", "backdoor_lic_train", "backdoor_lic_lira_train", "backdoor_lic_seg_train",
            "backdoor_lic_seg_lira_train"}
FETCHING = {"fetch_dataset", "fetch_weights", "classify_fetch_classifier"}
BRANCH = "under-test"


def config(tier: str) -> dict:
    return load_tier(ROOT / cfg_path(tier), root=ROOT)


def cfg_path(tier: str) -> str:
    return "config/config.yaml" if tier == "default" else f"config/{tier}.yaml"


def readme_block() -> tuple[str, str, str]:
    """(tier line, commands where the run finished, commands elsewhere) of the README's DVC block."""
    section = README.read_text().split(SECTION + "\n", 1)[1].split("\n## ", 1)[0]
    block = next(b for b in re.findall(r"```bash\n(.*?)```", section, re.S) if "dvc-track.sh" in b)
    lines = block.strip().splitlines()
    split = next(i for i, line in enumerate(lines) if line.startswith("# elsewhere"))
    return lines[0], "\n".join(lines[1:split]), "\n".join(lines[split:])


def tier_assignment(first_line: str, tier: str) -> str:
    """The README's own assignment for `tier`: its first line sets the default and names the others."""
    m = re.search(rf"\btier={tier} config=[\w/.-]+\.yaml", first_line)
    assert m, f"the README's tier line names no assignment for the {tier} tier: {first_line}"
    return m.group(0)


def test_readme_block_assigns_the_default_tier_and_names_the_others():
    first, here, elsewhere = readme_block()
    assert first.startswith("tier=default config=config/config.yaml")
    for tier in ["smoke", "paper"]:
        assert tier_assignment(first, tier) == f"tier={tier} config=config/{tier}.yaml"
    assert "dvc-track.sh" in here and "dvc push" in here and "git push" in here
    assert "dvc-track.sh --pull" in elsewhere and "snakemake -n" in elsewhere


# -- running commands in clones ---------------------------------------------------------------------


def environment(tmp_path: Path) -> dict:
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text("[user]\n\tname = test\n\temail = test@example.invalid\n")
    return {**os.environ, "GIT_CONFIG_GLOBAL": str(gitconfig), "GIT_CONFIG_NOSYSTEM": "1",
            "DVC_NO_ANALYTICS": "1", "PYTHONWARNINGS": "ignore"}


def run(cmd: list[str], cwd: Path, env: dict) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{cmd} in {cwd} exited {proc.returncode}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout + proc.stderr


def bash(script: str, cwd: Path, env: dict) -> str:
    return run(["bash", "-euo", "pipefail", "-c", script], cwd, env)


def venv_shims(clone: Path) -> None:
    """`.venv/bin/{python,dvc,snakemake}` of the clone run this interpreter's (a clone has no venv)."""
    bindir = clone / ".venv" / "bin"
    bindir.mkdir(parents=True)
    for name, target in [("python", Path(sys.executable)), ("dvc", Path(sys.executable).parent / "dvc"),
                         ("snakemake", Path(sys.executable).parent / "snakemake")]:
        assert target.exists(), target
        shim = bindir / name
        shim.write_text(f"#!/bin/sh\nexec '{target}' \"$@\"\n")
        shim.chmod(0o755)


def clone_project(tmp_path: Path, env: dict) -> tuple[Path, Path]:
    """A bare origin and a clone of it whose last commit is this checkout's working tree (what the
    tests are run on), pushed by the README's own `git push`."""
    origin, first = tmp_path / "origin.git", tmp_path / "first"
    run(["git", "clone", "--quiet", "--bare", str(ROOT), str(origin)], tmp_path, env)
    run(["git", "clone", "--quiet", str(origin), str(first)], tmp_path, env)
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT, env)
    for name in filter(None, listed.split("\0")):
        src, dst = ROOT / name, first / name
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
        elif dst.is_file():  # deleted in the working tree
            dst.unlink()
    run(["git", "switch", "--quiet", "-C", BRANCH], first, env)  # the checkout may be a detached HEAD
    run(["git", "add", "-A"], first, env)
    run(["git", "commit", "--quiet", "--allow-empty", "-m", "the working tree under test"], first, env)
    run(["git", "push", "--quiet", "--set-upstream", "origin", BRANCH], first, env)
    venv_shims(first)
    return origin, first


def fresh_clone(origin: Path, dest: Path, env: dict) -> Path:
    run(["git", "clone", "--quiet", "--branch", BRANCH, str(origin), str(dest)], dest.parent, env)
    venv_shims(dest)
    return dest


def digests(root: Path, folders: list[str]) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for f in folders for p in sorted((root / f).rglob("*")) if p.is_file()}


def committed(repo: Path, env: dict, *folders: str) -> set[str]:
    return set(run(["git", "ls-tree", "-r", "--name-only", BRANCH, "--", *folders], repo, env).split())


def assert_dvc_files_committed(origin: Path, clone: Path, env: dict, *outputs: str) -> None:
    """The outputs' .dvc files, and the .gitignore files DVC wrote beside them, are what the clone
    committed and pushed under data/ and results/; every other file there is ignored by git."""
    dvc_files = {f"{o}.dvc" for o in outputs}
    gitignores = {f"{Path(o).parent}/.gitignore" for o in outputs}
    pushed = committed(origin, env, "data", "results")
    assert dvc_files <= pushed <= dvc_files | gitignores, pushed
    assert run(["git", "status", "--porcelain", "--untracked-files=all"], clone, env) == ""


def scheduled(dry_run_output: str) -> dict[str, int]:
    """Rule -> job count of the `Job stats` table of `snakemake -n` (empty: nothing to be done)."""
    if "Nothing to be done" in dry_run_output:
        return {}
    table = dry_run_output.split("Job stats:\n", 1)[1].split("\ntotal", 1)[0]
    rows = [line.split() for line in table.splitlines()[2:] if line.strip()]
    return {name: int(count) for name, count in rows}


# -- the smoke tier, end to end ----------------------------------------------------------------------


@pytest.mark.workflow
def test_readme_block_versions_the_smoke_run_and_a_fresh_clone_plans_no_training(smoke_run, tmp_path):
    first_line, here, elsewhere = readme_block()
    assign = tier_assignment(first_line, "smoke")
    env = environment(tmp_path)
    cfg = config("smoke")
    data, checkpoints = cfg["data_dir"], f"{cfg['results']}/checkpoints"

    # Where the run finished: the smoke run's data and results, then the README's first half.
    origin, first = clone_project(tmp_path, env)
    for folder in [data, cfg["results"]]:
        shutil.copytree(smoke_run / folder, first / folder, symlinks=True)
    bash(f"{assign}\n{here}", first, env)
    # Exactly the .dvc files and DVC's .gitignore files are committed and pushed; all else is ignored.
    assert_dvc_files_committed(origin, first, env, data, checkpoints)

    # Elsewhere, a fresh clone. First a plain `dvc pull`, as a user may do: DVC writes files in no
    # particular order, so say the clean classifier came out after the trigger made with it; then
    # Snakemake retrains the trigger (and all after it). That is what `--pull` prevents.
    second = fresh_clone(origin, tmp_path / "second", env)
    run([".venv/bin/dvc", "pull"], second, env)
    trigger = next((second / checkpoints / "backdoor" / "triggers").glob("*.pt"))
    later = trigger.stat().st_mtime + 10
    os.utime(second / checkpoints / "backdoor" / "classifier" / "clean.pt", (later, later))
    plan = [".venv/bin/snakemake", str(trigger.relative_to(second)), "-n", "--configfile", cfg_path("smoke")]
    assert "backdoor_trigger" in scheduled(run(plan, second, env))

    # The README's second half: restore (the pull has nothing left to fetch; the times are reset),
    # then plan. Nothing trains or downloads; the work downstream of the checkpoints is planned.
    out = bash(f"{assign}\n{elsewhere}", second, env)
    assert digests(second, [data, checkpoints]) == digests(smoke_run, [data, checkpoints])
    jobs = scheduled(out)
    assert not TRAINING & set(jobs) and not FETCHING & set(jobs), f"a restored clone plans {jobs}"
    assert jobs.get("compress_clean"), f"the work downstream of the checkpoints should be planned: {jobs}"


# -- the paper tier: the same script tracks its datasets, official weights and checkpoints -----------


def stand_in(pattern: str) -> str:
    """A path matching a rule's output pattern: each wildcard takes the first of its alternatives."""
    def first(m: re.Match) -> str:
        alternative = re.split(r"(?<!\\)\|", m.group(2) or "x")[0]
        literal = alternative.replace("\\", "")
        return literal if re.escape(literal) == alternative else "1"  # a pattern (\d+): a quality

    return re.sub(r"\{(\w+)(?:,((?:[^{}]|\{[^{}]*\})*))?\}", first, pattern)


def paper_rules() -> dict[str, dict]:
    out = subprocess.run([sys.executable, str(INSPECT), str(ROOT), "config/paper.yaml"], capture_output=True,
                         text=True, check=True)
    return {r["rule"]: r for r in json.loads(out.stdout)["rules"]}


def test_the_same_script_tracks_the_paper_tier(tmp_path):
    cfg = config("paper")
    data, checkpoints = cfg["data_dir"], f"{cfg['results']}/checkpoints"
    rules = paper_rules()
    for rule in TRAINING:
        assert all(o.startswith(f"{checkpoints}/") for o in rules[rule]["outputs"]), rules[rule]["outputs"]
    for rule in FETCHING:
        assert all(o.startswith(f"{data}/") for o in rules[rule]["outputs"]), rules[rule]["outputs"]

    first_line, here, elsewhere = readme_block()
    assign = tier_assignment(first_line, "paper")
    env = environment(tmp_path)
    origin, first = clone_project(tmp_path, env)
    # Stand-ins: each training and fetching rule's outputs (a fetched dataset is a folder), the
    # official weights placed by hand, ImageNet val where the config reads it, and the download cache.
    placed = []
    for rule in sorted(TRAINING | FETCHING):
        for pattern in rules[rule]["outputs"]:
            path = stand_in(pattern)
            placed.append(f"{path}/stand-in.png" if pattern in rules[rule]["directories"] else path)
    placed += [f"{data}/weights/stf/q1.pth.tar"]
    placed += [f"{net['path']}/n01440764/stand-in.JPEG" for net in cfg["classify"]["nets"].values() if "path" in net]
    cache = f"{data}/downloads/DIV2K_train_HR.zip"
    for path in [*placed, cache]:
        (first / path).parent.mkdir(parents=True, exist_ok=True)
        (first / path).write_bytes(path.encode() + os.urandom(64))
    assert all(p.startswith(f"{data}/") or p.startswith(f"{checkpoints}/") for p in placed), placed
    expected = digests(first, [data, checkpoints])
    del expected[cache]

    bash(f"{assign}\n{here}", first, env)
    assert_dvc_files_committed(origin, first, env, data, checkpoints)
    second = fresh_clone(origin, tmp_path / "second", env)
    restore = "\n".join(line for line in elsewhere.splitlines() if "snakemake" not in line)
    bash(f"{assign}\n{restore}", second, env)
    got = digests(second, [data, checkpoints])
    assert got == expected  # every stand-in, byte for byte; the download cache is not versioned
    assert set(expected) >= set(placed)
