"""benchmark/compare_dryruns.py, the check that a refactoring plans the same jobs as before."""

from benchmark.compare_dryruns import jobs, main

JOB = """[Thu Dec  3 13:46:16 2026]
rule fetch_dataset:
    output: data/smoke/{name}
    log: logs/smoke/fetch_dataset/{name}.log
    jobid: {jobid}
    benchmark: benchmarks/smoke/fetch_dataset/{name}.tsv
    reason: Forced execution
    wildcards: dataset={name}
    resources: tmpdir=/tmp
Shell command: advcompress prepare-data --out data/smoke/{name} --settings '{{"seed": {seed}}}' > log 2>&1
"""
ALL = """[Thu Dec  3 13:46:18 2026]
localrule all:
    input: data/smoke/eval, data/smoke/train
    jobid: 0
    reason: Forced execution
"""


def _dry(tmp_path, name, *blocks):
    path = tmp_path / name
    path.write_text("Building DAG of jobs...\n" + "\n".join(blocks) + "\nJob stats:\njob count\n")
    return str(path)


def test_the_same_jobs_in_another_order_with_other_ids_are_the_same(tmp_path, capsys):
    a = _dry(tmp_path, "a", JOB.format(name="eval", jobid=1, seed=0), JOB.format(name="train", jobid=2, seed=0), ALL)
    b = _dry(tmp_path, "b", ALL, JOB.format(name="train", jobid=7, seed=0), JOB.format(name="eval", jobid=3, seed=0))
    assert main([a, b]) == 0 and "3 jobs" in capsys.readouterr().out
    assert sum(jobs(open(a).read()).values()) == 3  # the target rule without a shell command counts


def test_a_changed_command_or_a_missing_job_is_named(tmp_path, capsys):
    a = _dry(tmp_path, "a", JOB.format(name="eval", jobid=1, seed=0), JOB.format(name="train", jobid=2, seed=0), ALL)
    b = _dry(tmp_path, "b", JOB.format(name="eval", jobid=1, seed=1), JOB.format(name="train", jobid=2, seed=0), ALL)
    assert main([a, b]) == 1
    out = capsys.readouterr().out
    assert out.count("only in") == 2 and '"seed": 1' in out and "data/smoke/train" not in out
    c = _dry(tmp_path, "c", JOB.format(name="eval", jobid=1, seed=0), ALL)
    assert main([a, c]) == 1 and "data/smoke/train" in capsys.readouterr().out
    d = _dry(tmp_path, "d", JOB.format(name="eval", jobid=1, seed=0), JOB.format(name="train", jobid=2, seed=0))
    assert main([a, d]) == 1 and "all\n  input: data/smoke/eval" in capsys.readouterr().out  # the target is a job too


def test_a_file_without_jobs_is_a_user_error(tmp_path, capsys):
    a = _dry(tmp_path, "a", ALL)
    assert main([a, str(tmp_path / "missing")]) == 2 and "holds no planned job" in capsys.readouterr().err
