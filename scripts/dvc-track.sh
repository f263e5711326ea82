#!/usr/bin/env bash
# Version one tier's prepared data and checkpoints with DVC, or restore them elsewhere.
# README, "Data and checkpoints under DVC", has the whole recipe. Snakemake rules never run git or
# dvc: this script is run by hand, from anywhere, after a run (or after a clone).
#
#   scripts/dvc-track.sh [tier]          dvc add <data_dir> and <results>/checkpoints, then git add
#                                        and commit their .dvc files and the .gitignore files dvc
#                                        writes beside them (only those paths)
#   scripts/dvc-track.sh --pull [tier]   dvc pull them, then give every restored file one
#                                        modification time (see restamp below)
#
# tier: default (config/config.yaml; the default), smoke or paper (config/<tier>.yaml, an overlay of
# the default). The two paths are the tier's `data_dir` and `results`; <results>/checkpoints holds
# every output of every training job (workflow/rules/common.smk: CKPT), so together they are all
# that is expensive to rebuild. Push with `dvc push` and `git push`.
set -euo pipefail

usage() {
    echo "usage: scripts/dvc-track.sh [--pull] [default|smoke|paper]" >&2
    exit 2
}

die() {
    echo "dvc-track: $*" >&2
    exit 1
}

mode=track
if [[ "${1:-}" == "--pull" ]]; then
    mode=pull
    shift
fi
[[ $# -le 1 ]] || usage
tier="${1:-default}"
case "$tier" in
    default) config="config/config.yaml" ;;
    smoke | paper) config="config/$tier.yaml" ;;
    *) usage ;;
esac

cd "$(dirname "${BASH_SOURCE[0]}")/.."
dvc=".venv/bin/dvc"
[[ -x "$dvc" ]] || dvc="dvc"
python=".venv/bin/python"
[[ -x "$python" ]] || python="python3"

config_value() {  # the tier as the workflow resolves it: an overlay of config/config.yaml
    PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" "$python" -c \
        'import sys; from advcompress.config import load_tier; print(load_tier(sys.argv[1])[sys.argv[2]])' "$config" "$1"
}
data_dir="$(config_value data_dir)"
data_dir="${data_dir%/}"
results="$(config_value results)"
checkpoints="${results%/}/checkpoints"
for path in "$data_dir" "$checkpoints"; do
    if [[ "$path" == /* || "/$path/" == */../* ]]; then
        die "$config: $path is not inside the project, so DVC cannot version it here"
    fi
done

track() {
    [[ -d "$data_dir" ]] || die "no $data_dir: run the $tier tier first"
    local targets=("$data_dir")
    if [[ -d "$checkpoints" ]]; then
        targets+=("$checkpoints")
    else
        echo "dvc-track: no $checkpoints yet (nothing trained): versioning $data_dir alone" >&2
    fi
    "$dvc" add -- "${targets[@]}"
    # dvc writes a .gitignore beside an output that git does not ignore yet (data/<tier>/ is
    # ignored as a directory, which dvc does not see; results/ ignores every file already).
    local files=() target
    for target in "${targets[@]}"; do
        files+=("$target.dvc")
        if [[ -f "$(dirname "$target")/.gitignore" ]]; then
            files+=("$(dirname "$target")/.gitignore")
        fi
    done
    git add -- "${files[@]}"
    if git diff --cached --quiet -- "${files[@]}"; then
        echo "dvc-track: $tier: ${targets[*]} unchanged since the last commit"
    else
        git commit -m "DVC: $tier tier, ${targets[*]} (scripts/dvc-track.sh)" -- "${files[@]}"
    fi
}

# dvc writes restored files in no particular order, so a checkpoint can come out older than the
# checkpoint or data it was trained from (e.g. a trigger older than the clean classifier it was
# made with). Snakemake compares modification times, and a fresh clone has no .snakemake metadata
# to tell it otherwise: it would retrain that checkpoint and everything after it. The restored
# files are one set, versioned together after a finished run, so none is newer than another, and
# one shared time says exactly that: Snakemake reruns a job only for an input strictly newer than
# its oldest output. Files outside the restored set keep their times (stale results downstream of
# the checkpoints still rerun). ancient() would not do: on an input that exists it also stops a
# job from rerunning when the job upstream of it reruns.
restamp() {
    local reference
    reference="$(mktemp)"
    local target
    for target in "$@"; do
        find "$target" -exec touch -r "$reference" {} +
    done
    rm -f "$reference"
}

pull() {
    local dvcfiles=() targets=() target
    for target in "$data_dir" "$checkpoints"; do
        if [[ -f "$target.dvc" ]]; then
            dvcfiles+=("$target.dvc")
            targets+=("$target")
        fi
    done
    [[ ${#dvcfiles[@]} -gt 0 ]] || die "nothing of the $tier tier is versioned ($data_dir.dvc, $checkpoints.dvc)"
    "$dvc" pull -- "${dvcfiles[@]}"
    restamp "${targets[@]}"
    echo "dvc-track: $tier: restored ${targets[*]}, all with one modification time"
}

"$mode"
