"""Static checks inside the test command: ruff on the code, snakemake --lint on the workflow."""

import subprocess
import sys

from tests.conftest import ROOT


def test_ruff_is_clean():
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "src", "tests", "benchmark"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_snakemake_lint_is_clean():
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]


# That planning the DAG imports neither torch nor CompressAI is checked on tests/test_rules.py's dry
# run of each tier (test_the_plan_is_the_dag, under -X importtime), not on dry runs of its own.


def test_the_codec_registry_imports_no_study():
    """Core modules point one way: every study builds codecs by name (`mbt2018+online` included),
    so a registry that imported a study (it once imported `defenses` for `+online`) would tie every
    job to that study's code and invite import cycles.

    The same fresh process first builds a project architecture through `load_learned_codec` before
    anything touched the registry, as train-lic does: the loader must find it on its own."""
    studies = STUDIES
    code = ("import sys\nfrom advcompress.codecs.learned import load_learned_codec\n"
            "print(load_learned_codec('song2021', 25, weights='untrained', widths={'N': 16, 'M': 16}).level)\n"
            "from advcompress.codecs import codec_entry, registered_codecs\n"
            "registered_codecs(); codec_entry('jpeg+online')\n"
            f"bad = sorted(m for m in sys.modules if m.split('.')[1:2] and m.split('.')[1] in {studies!r})\n"
            "sys.exit(f'the codec registry imports {bad}' if bad else 0)")
    proc = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "0.25", proc.stdout


def _imported_modules(path, package: str):
    """Every module an `import` or `from ... import` statement of `path` names (relative ones
    resolved against `package`), with `from m import n` also giving `m.n`."""
    import ast

    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            yield module
            yield from (f"{module}.{a.name}" for a in node.names)


def test_only_the_cli_and_its_commands_import_the_cli():
    """Dependencies point from the CLI to the library, never back: a library module importing
    `advcompress.cli` (backdoor.lic_eval once did, for make_codec_from_settings) ties it to argument
    parsing and the command table, and invites import cycles. Shared helpers live in the library."""
    src = ROOT / "src"
    allowed = {src / "advcompress" / "cli.py", src / "advcompress" / "__main__.py"}
    bad = []
    for path in sorted((src / "advcompress").rglob("*.py")):
        if path in allowed or (src / "advcompress" / "commands") in path.parents:
            continue
        package = ".".join(path.relative_to(src).with_suffix("").parts[:-1])
        names = set(_imported_modules(path, package))
        if any(n == "advcompress.cli" or n.startswith("advcompress.cli.") for n in names):
            bad.append(str(path.relative_to(ROOT)))
    assert not bad, f"library modules importing advcompress.cli: {bad}"


# The study packages, and the modules of one study another may import: the pieces it builds on by
# design (docs/architecture.md, "One package per study"). Anything else of a study is its own.
STUDIES = ("foundation", "attack", "defense", "classify", "backdoor", "claims")
SHARED_STUDY_MODULES = {
    "foundation.train": "the defense's adversarial fine-tuning trains with the foundation's optimizers",
    "foundation.tables": "Fig. 15 (defense) and the victims claim read the clean RD table and BD-PSNR",
    "attack.algorithms": "the defense's AT samples are SRDA's",
    "attack.tables": "Table III averages over directions and submodels as Table II does",
    "attack.plots": "the defense's bars are drawn as the attack's, with their intervals (ci_bars)",
    "classify.defenses": "the backdoor's defense evaluation applies the classifier study's compression defenses",
}


def cross_study_imports(src) -> list[tuple[str, str]]:
    """(file, study module) of every import of another study's module by a study package's file."""
    found = []
    for path in sorted((src / "advcompress").rglob("*.py")):
        own = path.relative_to(src / "advcompress").parts[0]
        if own not in STUDIES:
            continue
        package = ".".join(path.relative_to(src).with_suffix("").parts[:-1])
        for name in set(_imported_modules(path, package)):
            parts = name.split(".")
            if parts[0] == "advcompress" and len(parts) > 2 and parts[1] in STUDIES and parts[1] != own:
                found.append((str(path.relative_to(src)), ".".join(parts[1:3])))
    return sorted(set(found))


def test_no_study_imports_another_studys_own_modules():
    """A study reads another study's module only if it is one of the pieces listed above; the rest
    (attack.run, defense.adversarial_training, the registries, ...) can change with its own study."""
    found = cross_study_imports(ROOT / "src")
    assert {m for _, m in found} & set(SHARED_STUDY_MODULES), "the check finds no cross-study import at all"
    bad = [(f, m) for f, m in found if m not in SHARED_STUDY_MODULES]
    assert not bad, f"study modules importing another study's own module: {bad}"
    for module in SHARED_STUDY_MODULES:
        assert (ROOT / "src" / "advcompress" / (module.replace(".", "/") + ".py")).is_file(), module
