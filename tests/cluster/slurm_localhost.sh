#!/usr/bin/env bash
# A real one-node Slurm on localhost, for proving the workflow's Slurm profile (tests/cluster/).
#
#   tests/cluster/slurm_localhost.sh start   # install (if missing), configure, start munged/slurmctld/slurmd
#   tests/cluster/slurm_localhost.sh env     # print `export SLURM_CONF=...` for client commands (sbatch, squeue)
#   tests/cluster/slurm_localhost.sh status  # sinfo
#   tests/cluster/slurm_localhost.sh stop    # stop the three daemons by their pid files, delete the state dir
#
# Everything lives in one state directory ($ADV_SLURM_DIR, default /tmp/advcompress-slurm): its own
# munge key and socket, slurm.conf, spool, logs and pid files. The one thing outside it is a symlink
# /etc/slurm/slurm.conf -> $ADV_SLURM_DIR/slurm.conf: Snakemake's jobstep plugin strips SLURM_*
# variables (SLURM_CONF too) before its nested `srun`, which then finds the configuration only at
# the default path. `start` refuses to replace a slurm.conf it did not write; it is idempotent (a
# running cluster is reused), and `stop` removes the symlink, so it leaves no trace. Needs root (apt,
# SlurmUser=root). No cgroups: proctrack/linuxproc and task/none. Accounting is off; finished jobs
# are recorded by jobcomp/filetxt in $ADV_SLURM_DIR/jobcomp.log, which is what the driver checks
# (AccountingStorageTRES=gres/gpu would need slurmdbd, so that log shows no GRES; the driver reads
# the plugin's sbatch calls for --gpus instead).
#
# The node advertises one `gpu` GRES without a device file: a scheduling token only, so that jobs
# tagged `resources: gpu=1` are submitted with `--gpus=1` exactly as on a GPU cluster. No CUDA device
# exists; the jobs' device helper (advcompress.device.pick_device) logs that it picks the CPU.
set -euo pipefail

DIR="${ADV_SLURM_DIR:-/tmp/advcompress-slurm}"
HOST="$(hostname -s)"
CPUS="$(nproc)"
MEM_MB="$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)"
export SLURM_CONF="$DIR/slurm.conf"

log() { echo "[slurm-localhost] $*" >&2; }

pid_alive() { [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
        return
    fi
    log "installing Debian's slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq slurm-wlm munge >/dev/null
}

write_config() {
    mkdir -p "$DIR"/{spool/ctld,spool/d,log,run,munge}
    chmod 755 "$DIR/munge"
    if [[ ! -s "$DIR/munge/munge.key" ]]; then
        dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
        chmod 400 "$DIR/munge/munge.key"
    fi
    cat >"$DIR/gres.conf" <<EOF
NodeName=$HOST Name=gpu Count=1 File=/dev/null
EOF
    cat >"$SLURM_CONF" <<EOF
# one-node Slurm on localhost, written by tests/cluster/slurm_localhost.sh
ClusterName=advcompress
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket
CredType=cred/munge
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation=$DIR/spool/ctld
SlurmdSpoolDir=$DIR/spool/d
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/jobcomp.log
MinJobAge=600
ReturnToService=2
SchedulerType=sched/backfill
MpiDefault=none
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
}

link_default_config() {
    local default=/etc/slurm/slurm.conf
    if [[ -e "$default" || -L "$default" ]] && [[ "$(readlink "$default")" != "$SLURM_CONF" ]]; then
        log "$default exists and is not ours (a real Slurm installation?); refusing to replace it"
        exit 1
    fi
    mkdir -p /etc/slurm
    ln -sfn "$SLURM_CONF" "$default"
}

start() {
    install_packages
    write_config
    link_default_config
    if ! pid_alive "$DIR/run/munged.pid"; then
        log "starting munged"
        munged --force --socket="$DIR/munge/munge.socket" --key-file="$DIR/munge/munge.key" \
            --pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" \
            --seed-file="$DIR/munge/munged.seed"
    fi
    if ! pid_alive "$DIR/run/slurmctld.pid"; then
        log "starting slurmctld"
        slurmctld -f "$SLURM_CONF" || { tail -n 20 "$DIR/log/slurmctld.log" >&2; exit 1; }
    fi
    if ! pid_alive "$DIR/run/slurmd.pid"; then
        log "starting slurmd"
        slurmd -f "$SLURM_CONF" || { tail -n 20 "$DIR/log/slurmd.log" >&2; exit 1; }
    fi
    for _ in $(seq 60); do
        if sinfo -h -N -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
            log "node $HOST is up: $(sinfo -h -N -o '%N %t %c CPUs %m MB %G')"
            return
        fi
        sleep 1
    done
    log "the node never became idle; daemon logs follow"
    sinfo -N -l >&2 || true
    tail -n 20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
    exit 1
}

stop() {
    for d in slurmd slurmctld munged; do
        if pid_alive "$DIR/run/$d.pid"; then
            local pid
            pid="$(cat "$DIR/run/$d.pid")"
            log "stopping $d (pid $pid)"
            kill "$pid"
            for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        fi
    done
    if [[ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" == "$SLURM_CONF" ]]; then
        rm -f /etc/slurm/slurm.conf
    fi
    rm -rf "$DIR"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    env) echo "export SLURM_CONF=$SLURM_CONF" ;;
    status) sinfo -N -l ;;
    *) echo "usage: $0 start|stop|env|status" >&2; exit 2 ;;
esac
