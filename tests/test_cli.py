"""The command line: help on every argument, choices on every enumerated one, one-line user errors
(exit status 2, no traceback), and a command table that imports a study's module only when needed."""

from __future__ import annotations

import argparse
import pickle
import re
import subprocess
import sys

import pytest

from advcompress import cli
from advcompress.cli import build_parser, main
from tests.conftest import ROOT

# Arguments that name one of a fixed set of things (a registry's names, a figure or table kind,
# a device): each must carry `choices`, so a wrong value fails at parse time and lists the valid ones.
ENUMERATED = {"command", "kind", "codec", "model", "attack", "arch", "only", "device"}


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for sp in sub.choices.values():
        getattr(sp, "ensure_loaded", lambda: None)()  # the lazy command table adds arguments on use
    return dict(sub.choices)


def test_every_argument_has_help_and_every_enumerated_one_has_choices():
    """Walks the whole argparse tree. On the code before the CLI pass it lists 179 problems: 159
    arguments without help, 20 enumerated ones without choices."""
    parser = build_parser()
    problems = []
    for name, sp in [("advcompress", parser), *_commands(parser).items()]:
        for action in sp._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            label = f"{name} {'/'.join(action.option_strings) or action.dest}"
            if not action.help and not isinstance(action, argparse._SubParsersAction):
                problems.append(f"{label}: no help")
            if action.dest in ENUMERATED and not action.choices:
                problems.append(f"{label}: no choices")
        sp.format_help()  # renders (a literal '%' in a help string once broke this)
    assert not problems, f"{len(problems)} arguments:\n" + "\n".join(problems)


def test_command_table_matches_the_modules():
    """Every command in the table is registered by the module the table names, and only those."""
    commands = _commands(build_parser())
    assert list(commands) == list(cli.COMMANDS)
    for name, sp in commands.items():
        fn = sp.get_default("fn")
        assert fn is not None and fn.__module__ == f"advcompress.commands.{cli.COMMANDS[name][0]}", name


def test_every_workflow_call_parses_its_command_and_literal_kind():
    """Each `advcompress <command>` in the rules exists, and each literal `--kind` is one of its choices."""
    commands = _commands(build_parser())
    calls = []
    for path in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        calls += re.findall(r'"advcompress ([a-z][a-z-]*)([^"]*)', path.read_text())
    assert len(calls) > 30
    for command, rest in calls:
        assert command in commands, command
        kind = re.search(r"--kind ([a-z][\w-]*)", rest)
        if kind:
            choices = next(a.choices for a in commands[command]._actions if a.dest == "kind")
            assert kind.group(1) in choices, (command, kind.group(1))


# -- one-line user errors, from a real process ----------------------------------------------------


def _one_error_line(proc, command: str) -> str:
    """Exit status 2, no traceback, and exactly one error line, the last on stderr."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    errors = [line for line in lines if ": error: " in line]
    assert len(errors) == 1 and errors[0] == lines[-1], proc.stderr
    assert lines[-1].startswith(" ".join(["advcompress", command]).strip() + ": error: "), lines[-1]
    return lines[-1]


@pytest.fixture
def files(tmp_path):
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "broken.png").write_bytes(b"not a PNG at all")
    # Any pickled object that is not tensors: torch.load(weights_only=True) refuses it.
    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"state_dict": argparse.Namespace(x=1)}, protocol=2))
    return tmp_path


OUT = ["--out-csv", "t.csv", "--out-md", "t.md"]
SMALL = '{"weights": "trained", "widths": {"N": 16, "M": 24}, "device": "cpu"}'


@pytest.mark.parametrize("argv, command, says", [
    (["rd-table", "x.csv", *OUT, "--settings", '{"seed": 0,}'], "rd-table",
     "argument --settings: not valid JSON: Expecting property name enclosed in double quotes at line 1 column 12"),
    (["rd-bd", "x.csv", *OUT, "--settings", "[0]"], "rd-bd", "argument --settings: must be a JSON object"),
    (["compress", "--codec", "nope", "--quality", "1", "--eval-dir", "eval", "--out", "o.csv"], "compress",
     "argument --codec: unknown codec 'nope'; choose from avif, bmshj2018-factorized,"),
    (["attack-figure", "--kind", "nope", "x.csv", "--out", "f.pdf"], "attack-figure",
     "argument --kind: invalid choice: 'nope'"),
    (["nope"], "", "argument <command>: invalid choice: 'nope' (choose from 'prepare-data', "),
    (["rd-table", "missing.csv", *OUT], "rd-table", "missing.csv: No such file or directory"),
    (["compress", "--codec", "jpeg", "--quality", "50", "--eval-dir", "eval", "--out", "o.csv"], "compress",
     "broken.png: cannot be read as an image"),
    (["compress", "--codec", "bmshj2018-factorized", "--quality", "2", "--eval-dir", "eval", "--codec-ckpt",
      "bmshj2018-factorized@2=evil.pt", "--out", "o.csv", "--settings", SMALL], "compress",
     "checkpoint evil.pt is unreadable (UnpicklingError: Weights only load failed)"),
])
def test_user_error_is_one_line_and_exit_2(files, monkeypatch, capsys, argv, command, says):
    """Through `main` in this process (a Python per case cost ~10 s on two busy cores); the entry
    point itself, `python -m advcompress`, is run by test_errors.py and test_data.py."""
    monkeypatch.chdir(files)
    with pytest.raises(SystemExit) as exit_:
        main([str(a) for a in argv])
    proc = subprocess.CompletedProcess(argv, exit_.value.code, "", capsys.readouterr().err)
    line = _one_error_line(proc, command)
    assert says in line, line
    assert not list(files.glob("*.csv")) and not list(files.glob("*.md"))


def test_every_command_names_codec_weights_one_way():
    """A codec's weights are `--codec-ckpt NAME@QUALITY=PATH` on every command (there were three
    conventions: --checkpoints by position, --checkpoint, --codec-ckpt); `--init` (a training's
    starting point) is another thing. Fails if a command declares --checkpoint(s) again."""
    using = set()
    for name, sp in _commands(build_parser()).items():
        flags = {f for action in sp._actions for f in action.option_strings}
        assert not flags & {"--checkpoint", "--checkpoints"}, name
        if "--codec-ckpt" in flags:
            using.add(name)
    assert {"compress", "attack-run", "attack-tau", "attack-image", "backdoor-lic-train", "backdoor-lic-eval",
            "classify-attack", "classify-bpp"} <= using, using


def test_a_missing_codec_checkpoint_is_one_line_naming_the_flag(tmp_path, capsys):
    settings = '{"qualities": [2, 6], "codec": {"weights": "trained"}}'
    given = f"bmshj2018-factorized@2={tmp_path / 'q2.pt'}"
    argv = ["attack-run", "--model", "bmshj2018-factorized", "--attack", "srda", "--eval-dir", str(tmp_path),
            "--codec-ckpt", given, "--settings", settings,
            *[x for o in ("rows", "local", "latents", "steps", "gallery", "adv-dir") for x in (f"--{o}", str(tmp_path / o))]]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["advcompress attack-run: error: --codec-ckpt: no checkpoint for bmshj2018-factorized@6; "
                   "give --codec-ckpt bmshj2018-factorized@6=PATH"], err


@pytest.mark.parametrize("argv, says", [
    (["attack-run", "--model", "jpeg"], "argument --model: unknown learned codec 'jpeg'; choose from "),
    (["attack-image", "--attack", "nope"], "argument --attack: unknown RD attack 'nope'; choose from arda, sda, sra"),
    (["train-lic", "--model", "mbt2018@at-x"], "argument --model: unknown learned architecture 'mbt2018@at-x'"),
    (["classify-adv", "--attack", "nope"], "argument --attack: unknown classifier attack 'nope'; choose from cw,"),
    (["classify-attack", "--defense", "jpeg@50+nope@3"], "argument --defense: unknown codec 'nope'"),
    (["classify-attack", "--defense", "jpeg"], "argument --defense: defense step 'jpeg' of 'jpeg' is not"),
    (["classify-bpp", "--codec-ckpt", "mbt2018=x.pt"], "argument --codec-ckpt: expects NAME@QUALITY=PATH"),
    (["classify-fetch-classifier", "--arch", "vgg"], "argument --arch: unknown torchvision architecture 'vgg'"),
    (["backdoor-table", "--kind", "table12"], "argument --kind: unknown backdoor table 'table12'; choose from lic_lira,"),
    (["classify-figure", "nope"], "argument KIND: unknown classify figure 'nope'; choose from ablation, ablation-codec, adaptive-attacks"),
    (["claims", "--table", "rows.csv"], "argument --table: expects KIND=PATH"),
    (["claims", "--table", "nope=rows.csv"], "argument --table: unknown table kind 'nope'; choose from attack_rows"),
    (["selfcheck", "--device", "tpu"], "argument --device: unknown device 'tpu'"),
    (["selfcheck", "--only", "srda", "nope"], "argument --only: unknown check 'nope'; choose from train-codec"),
    (["compress", "--codec", "jpeg"], "the following arguments are required: --quality, --eval-dir, --out"),
])
def test_bad_argument_is_one_line_before_the_command_runs(capsys, argv, says):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"advcompress {argv[0]}: error: {says}"), err
    assert err[0].endswith(f"(see advcompress {argv[0]} --help)")


def test_derived_codec_names_are_accepted(tmp_path):
    parser = build_parser()
    for name in ("jpeg", "mbt2018@at-srda", "mbt2018+online"):
        args = parser.parse_args(["compress", "--codec", name, "--quality", "1", "--eval-dir", "e", "--out", "o"])
        assert args.codec == name and args.settings is None
    assert parser.parse_args(["selfcheck", "--device", "cuda:1"]).device == "cuda:1"


def test_unknown_codec_in_settings_is_a_user_error():
    """A codec named inside --settings (a defense, a test codec) fails at its lookup: one line too."""
    from advcompress.codecs.registry import codec_entry
    from advcompress.errors import UnknownNameError, UserError

    with pytest.raises(UnknownNameError) as e:
        codec_entry("nope")
    assert isinstance(e.value, UserError) and isinstance(e.value, KeyError)
    assert str(e.value).startswith("unknown codec 'nope'; registered: avif, ") and "<codec>+online" in str(e.value)


def test_a_bug_keeps_its_traceback(monkeypatch):
    """Only user errors become one line; anything else propagates (and Python prints its traceback)."""
    import advcompress.commands.foundation as foundation

    def broken(a):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(foundation, "cmd_rd_table", broken)
    with pytest.raises(ZeroDivisionError):
        main(["rd-table", "x.csv", *OUT])


# -- the lazy command table -----------------------------------------------------------------------


def test_help_and_table_commands_import_only_their_own_study(tmp_path):
    """`advcompress --help` imports no command module and nothing heavy, nor does any command's help;
    parsing a table command imports its study's module alone; running one (claims) imports no torch."""
    code = f"""
import sys
from advcompress.cli import build_parser, main

def loaded(prefix):
    return sorted(m for m in sys.modules if m == prefix or m.startswith(prefix + "."))

try:
    main(["--help"])
except SystemExit as e:
    assert e.code == 0
assert loaded("advcompress.commands") in ([], ["advcompress.commands"]), loaded("advcompress.commands")
assert not [m for m in ("torch", "numpy", "pandas", "compressai") if m in sys.modules]

build_parser().parse_args(["attack-table", "rows.csv", "--out-csv", "t.csv", "--out-md", "t.md"])
assert loaded("advcompress.commands") == ["advcompress.commands", "advcompress.commands.attack"]

main(["claims", "--out-csv", {str(tmp_path / "c.csv")!r}, "--out-md", {str(tmp_path / "c.md")!r}])
assert "advcompress.commands.classify" not in sys.modules
assert not loaded("torch"), loaded("torch")[:3]

sub = next(a for a in build_parser()._actions if a.dest == "command")
for name, parser in sub.choices.items():  # every command's --help: choices from registries stay unread
    parser.format_help()
assert not [m for m in ("torch", "compressai") if m in sys.modules]

# checking a classic codec's name loads the classic codecs alone: a JPEG job skips CompressAI
build_parser().parse_args(["compress", "--codec", "jpeg", "--quality", "50", "--eval-dir", "e", "--out", "o"])
assert "compressai" not in sys.modules
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "c.md").exists()
