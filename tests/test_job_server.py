"""The warm job server: a served job is the same job, its status and streams are the job's, and a
killed job takes its child with it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

ADVCOMPRESS = str(Path(sys.executable).with_name("advcompress"))


def _wait_for(predicate, seconds: float, what: str) -> None:
    end = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The workflow's own server, started as the Snakefile's onstart starts it (`start_background`:
    warm, `--exit-with-parent`, named in this process's environment); its log names each job's
    child. test_the_workflows_own_server_starts_serves_and_stops, the last test to use it, stops it
    (one warm server for the module instead of two)."""
    from advcompress.commands.serve import ENV, start_background

    log = tmp_path_factory.mktemp("server") / "logs" / "job_server.log"
    saved = os.environ.pop(ENV, None)
    stop = start_background(log)
    try:
        assert ENV in os.environ, log.read_text()  # it listens, and its jobs will inherit its name
        sock = Path(os.environ[ENV])
        yield {"sock": sock, "log": log, "stop": stop}
    finally:
        stop()  # again after the test's stop: ending an ended server is a no-op
        if saved is not None:
            os.environ[ENV] = saved
    assert not sock.exists()  # SIGTERM removes the socket


def _run(args, cwd, sock=None, **kw):
    env = {k: v for k, v in os.environ.items() if k != "ADVCOMPRESS_SERVER"}
    if sock is not None:
        env["ADVCOMPRESS_SERVER"] = str(sock)
    return subprocess.run([ADVCOMPRESS, *args], cwd=cwd, env=env, capture_output=True, text=True, **kw)


@pytest.fixture()
def folder(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "eval").mkdir()
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)).save(tmp_path / "eval" / f"im{i}.png")
    return tmp_path


def _jobs(log: Path) -> int:
    return log.read_text().count(" in pid ")


def test_a_served_job_writes_what_its_own_process_writes(server, folder):
    """...and a job whose server is not reachable runs in its own process and writes the same."""
    sock, log = server["sock"], server["log"]
    args = ["compress", "--codec", "jpeg", "--quality", "50", "--eval-dir", "eval"]
    before = _jobs(log)
    served = _run([*args, "--out", "served.csv"], folder, sock)
    assert served.returncode == 0, served.stderr
    assert _jobs(log) == before + 1  # the server ran it, not the client
    alone = _run([*args, "--out", "alone.csv"], folder, folder / "no-server.sock")
    assert alone.returncode == 0, alone.stderr
    assert "not reachable" in alone.stderr and _jobs(log) == before + 1
    timing = ["encode_s", "decode_s"]
    a, b = (pd.read_csv(folder / f).drop(columns=timing) for f in ("served.csv", "alone.csv"))
    pd.testing.assert_frame_equal(a, b)
    cost = [ln for ln in log.read_text().splitlines() if f"job {before + 1} done:" in ln]
    assert len(cost) == 1 and "exit 0" in cost[0] and "s CPU" in cost[0] and "compress --codec jpeg" in cost[0]


def test_a_served_user_error_is_the_jobs_one_line_and_status_2(server, folder):
    sock = server["sock"]
    served = _run(["compress", "--codec", "jpeg", "--quality", "50", "--eval-dir", "missing", "--out", "x.csv"],
                  folder, sock)
    assert served.returncode == 2  # the child's status and stderr are the job's
    assert served.stderr.strip().splitlines()[-1].startswith("advcompress compress: error:"), served.stderr
    assert "Traceback" not in served.stderr
    assert not (folder / "x.csv").exists()


def test_a_killed_job_takes_its_child_with_it(server, folder):
    sock, log = server["sock"], server["log"]
    env = {**os.environ, "ADVCOMPRESS_SERVER": str(sock)}
    before = _jobs(log)
    # A job that really runs: patches must be multiples of 64 px (a 16 px patch was a user error that
    # ended the child at once, so the check below raced it and failed now and then).
    rng = np.random.default_rng(1)
    (folder / "train").mkdir()
    Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)).save(folder / "train" / "t.png")
    settings = '{"qualities": [1], "steps": 100000, "batch_size": 1, "patch": 64, "lr": 0.001, "widths": {"N": 8, "M": 8}}'
    client = subprocess.Popen([ADVCOMPRESS, "train-lic", "--model", "bmshj2018-factorized", "--train-dir", "train",
                               "--out", "never.pt", "--settings", settings, "--threads", "1"],
                              cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=open(folder / "job.err", "w"))
    _wait_for(lambda: _jobs(log) > before, 60, "the job to reach the server")
    # this job's own line: an earlier job's "done" line may be written after it
    started = re.search(rf"job {before + 1} in pid (\d+)", log.read_text())
    child = int(started[1])
    assert Path(f"/proc/{child}").exists(), (folder / "job.err").read_text() + log.read_text()
    client.send_signal(signal.SIGTERM)
    client.wait(30)
    _wait_for(lambda: not Path(f"/proc/{child}").exists(), 30, f"child {child} to end")
    assert not (folder / "never.pt").exists()


def test_the_workflows_own_server_starts_serves_and_stops(server, folder):
    """What the Snakefile's onstart/onsuccess do (the module's server was started so): start a
    server, name it in the environment the jobs inherit, stop it (socket and its folder gone, the
    name unset). Runs after every other test of the server, which it ends."""
    from advcompress.commands.serve import ENV

    sock, log = server["sock"], server["log"]
    assert os.environ[ENV] == str(sock)
    served = _run(["compress", "--codec", "jpeg", "--quality", "50", "--eval-dir", "eval", "--out", "a.csv"],
                  folder, sock)
    assert served.returncode == 0, served.stderr
    _wait_for(lambda: " done: exit 0," in log.read_text(), 30, "the job's cost line")
    server["stop"]()
    assert ENV not in os.environ and not sock.parent.exists()


def test_a_server_started_with_exit_with_parent_ends_with_its_parent(tmp_path):
    sock, log = tmp_path / "s.sock", tmp_path / "server.log"
    parent = subprocess.Popen([sys.executable, "-c", (
        "import subprocess, sys, time; "
        f"subprocess.Popen([{ADVCOMPRESS!r}, 'serve', '--socket', {str(sock)!r}, '--exit-with-parent'], "
        f"stdout=open({str(log)!r}, 'w'), stderr=subprocess.STDOUT); time.sleep(600)")])
    try:
        _wait_for(lambda: log.exists() and "listening" in log.read_text(), 60, "the server")
        server = int(log.read_text().split("pid ")[1].split(",")[0])
    finally:
        parent.kill()
        parent.wait()
    _wait_for(lambda: not Path(f"/proc/{server}").exists() or "Z" in Path(f"/proc/{server}/stat").read_text().split()[2],
              300, "the orphaned server to exit")  # it checks between its warm imports, then every 2 s
    assert not sock.exists()


def test_a_server_that_cannot_start_leaves_the_jobs_to_their_own_processes(tmp_path, monkeypatch, capsys):
    from advcompress.commands.serve import ENV, start_background

    monkeypatch.delenv(ENV, raising=False)
    (tmp_path / "logs").write_text("a file where the log folder should be")
    stop = start_background(tmp_path / "logs" / "job_server.log")
    stop()
    assert ENV not in os.environ
    assert "no job server" in capsys.readouterr().err


def test_cost_lines_read_back_as_written():
    """The benchmarks (rehearsal, resource plan) read the server's cost lines through `job_costs`,
    the writer's own reader: a changed line format fails here, not in a half-parsed benchmark."""
    from advcompress.commands.serve import _cost_line, job_costs

    text = "advcompress job server: job 7 in pid 1\n" + _cost_line(7, -15, 2.5, ["compress", "--out", "a.csv", '{"q": 1}'])
    [job] = job_costs(text)
    assert (job["job"], job["exit"], job["wall_s"], job["argv"]) == (7, -15, 2.5, ["compress", "--out", "a.csv"])
    assert job["cpu_s"] > 0 and job["rss_mib"] > 0
