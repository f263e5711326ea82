"""`advcompress selfcheck` on a CPU-only machine (cpu against cpu), and that a mismatch fails it."""

import pytest
import torch

from advcompress import selfcheck as sc
from advcompress.cli import main


def test_cpu_against_cpu_runs_every_check_and_passes(capsys):
    main(["selfcheck", "--device", "cpu", "--threads", "1"])  # no SystemExit: rc 0
    out = capsys.readouterr().out.splitlines()
    lines = [line for line in out if line.split()[0] in {c.name for c in sc.CHECKS}]
    assert [line.split()[0] for line in lines] == [c.name for c in sc.CHECKS]
    for line in lines:
        assert line.split()[2] == "0.00e+00" and " ok " in line, line  # same device, same seed: exact
    assert out[-1] == "selfcheck: all checks within tolerance"


def test_an_injected_difference_is_a_mismatch_and_exits_nonzero(monkeypatch, capsys):
    """The second run of each pair stands in for the device: nudge one pixel of its images."""
    real, calls = sc.run_check, []

    def perturbed(check, device):
        out = real(check, device)
        calls.append(check.name)
        if len(calls) % 2 == 0:
            for kind, t in out.values():
                if kind == "image":
                    t.view(-1)[:200] += 0.5
        return out

    monkeypatch.setattr(sc, "run_check", perturbed)
    with pytest.raises(SystemExit) as e:
        main(["selfcheck", "--device", "cpu", "--only", "srda", "online-updating"])
    assert e.value.code == 1
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out[1:3]] == ["srda", "online-updating"]
    assert all(line.split()[-3] == "MISMATCH" for line in out[1:3]), out
    assert "MISMATCH" in out[-1]


def test_tolerance_zero_passes_only_an_exact_match(monkeypatch, capsys):
    monkeypatch.setattr(sc, "CHECKS", [sc.Check(c.name, c.run, 0.0) for c in sc.CHECKS if c.name == "srda"])
    main(["selfcheck", "--device", "cpu"])
    assert " ok " in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--only", "no-such-check"], "unknown check"),
    pytest.param(["--device", "cuda"], "no CUDA device", marks=pytest.mark.skipif(
        torch.cuda.is_available(), reason="only without a GPU")),
])
def test_user_errors_are_one_line(capsys, argv, message):
    with pytest.raises(SystemExit) as e:
        main(["selfcheck", *argv])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("advcompress selfcheck: error:") and message in err[-1]
    assert not any("Traceback" in line for line in err)


def test_difference_scales_series_and_averages_images():
    ref = torch.tensor([1000.0, 2.0])
    assert sc.difference("series", ref, ref + torch.tensor([1.0, 0.0])) == pytest.approx(1e-3)
    img = torch.zeros(100)
    assert sc.difference("image", img, img + torch.eye(1, 100)[0] * 0.5) == pytest.approx(5e-3)
    assert sc.difference("image", img, img.clone().fill_(float("nan"))) == float("inf")
    assert sc.difference("series", ref, ref[:1]) == float("inf")
