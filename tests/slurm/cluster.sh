#!/usr/bin/env bash
# tests/slurm/cluster.sh - a throwaway single-node Slurm cluster for sslp's Slurm tests
# (Debian's slurmctld/slurmd/slurm-client 22.05 + munge), started and stopped by plain bash:
# no systemd, no cgroups, no accounting database. Everything (munge key and socket,
# slurm.conf, state, spool, logs, PIDs) lives under one folder, $SLURM_TEST_DIR.
# Adapted from ../shared/reference/slurm-single-node.sh (how it starts on this machine kind,
# and every pitfall met on the way, is written up in ../shared/reference/slurm.md).
#
# Usage (as root; `install` needs the distribution's package mirror, nothing else does):
#   eval "$(tests/slurm/cluster.sh start)"   # installs the packages when missing, starts the
#                                            # cluster, prints `export SLURM_CONF=... SLURM_TEST_DIR=...`
#   tests/slurm/cluster.sh stop               # stops the cluster recorded in $SLURM_TEST_DIR
#   tests/slurm/cluster.sh install            # only the apt-get step
#   tests/slurm/cluster.sh logs               # the daemons' log tails (what CI prints on failure)
# Knobs (env): SLURM_TEST_DIR (default /tmp/sslp-slurm), SLURM_TEST_CTLD_PORT (6817),
#   SLURM_TEST_SLURMD_PORT (6818), SLURM_TEST_IDLE_TIMEOUT (60 s), SLURM_TEST_MIN_JOB_AGE (300 s),
#   SLURM_TEST_SCHED_PARAMS (sched_interval=1), SLURM_TEST_AUTH (munge; "none" = no munged).

SLURM_TEST_DIR=${SLURM_TEST_DIR:-/tmp/sslp-slurm}

_now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
_log() { echo "[slurm-single-node] $*" >&2; }

# Install the smallest package set that gives slurmctld, slurmd, sbatch/squeue/scontrol and munged.
# With --no-install-recommends this is 8 packages (~12 s here). A policy-rc.d that denies
# service starts is put in place if the machine has none (the packages ship init.d scripts).
slurm_install() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
       && command -v sbatch >/dev/null && command -v munged >/dev/null; then
        return 0
    fi
    local made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    local rc=0
    apt-get update -qq || rc=$?
    [ $rc = 0 ] && { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        slurmctld slurmd slurm-client munge >/dev/null || rc=$?; }
    [ $made_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
    return $rc
}

# Is PID alive (not a zombie) and running the program NAME? (guards against PID reuse before
# we kill). Zombies count as dead: once `start`'s shell has exited the daemons are re-parented
# to PID 1, which here reaps them only seconds later, and kill -0 succeeds on a zombie.
_pid_is() {
    local pid=$1 name=$2 stat
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
}

_stop_pid() {  # _stop_pid PIDFILE NAME : SIGTERM, wait up to 10 s, then SIGKILL
    local pidfile=$1 name=$2 pid i
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if _pid_is "$pid" "$name"; then
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 100); do _pid_is "$pid" "$name" || break; sleep 0.1; done
        if _pid_is "$pid" "$name"; then
            _log "$name ($pid) ignored SIGTERM, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$pidfile"
}

# slurmstepd processes of this cluster: they inherit slurmd's cwd, which is $dir.
_our_stepds() {
    local dir=$1 p
    for p in $(pgrep -x slurmstepd); do   # pgrep only lists; we kill by PID after the cwd check
        [ "$(readlink "/proc/$p/cwd" 2>/dev/null)" = "$dir" ] && echo "$p"
    done
    return 0
}

# Stop: cancel jobs and let their slurmstepd exit (it lingers ~1.5 s after a job ends),
# then slurmrestd, slurmd, slurmctld, munged, each by its recorded PID.
slurm_stop() {
    local dir=${1:-$SLURM_TEST_DIR} i p
    [ -d "$dir" ] || return 0
    if [ -f "$dir/pids/slurmctld" ] && _pid_is "$(cat "$dir/pids/slurmctld")" slurmctld; then
        SLURM_CONF=$dir/etc/slurm.conf scancel --quiet --user="$(id -un)" 2>/dev/null || true
        for i in $(seq 100); do
            [ -z "$(SLURM_CONF=$dir/etc/slurm.conf squeue -h -t running,completing -o %i 2>/dev/null)" ] && break
            sleep 0.1
        done
    fi
    for i in $(seq 100); do [ -z "$(_our_stepds "$dir")" ] && break; sleep 0.1; done
    _stop_pid "$dir/pids/slurmrestd" slurmrestd
    _stop_pid "$dir/pids/slurmd" slurmd
    _stop_pid "$dir/pids/slurmctld" slurmctld
    _stop_pid "$dir/pids/munged" munged
    for p in $(_our_stepds "$dir"); do _log "killing leftover slurmstepd $p"; kill -KILL "$p" 2>/dev/null || true; done
}

# Wait until sinfo reports the node idle; fail early if a daemon died.
slurm_wait_idle() {
    local dir=${1:-$SLURM_TEST_DIR} timeout=${SLURM_TEST_IDLE_TIMEOUT:-60} node state t0
    node=$(cat "$dir/etc/nodename")
    t0=$(date +%s)
    while :; do
        state=$(SLURM_CONF=$dir/etc/slurm.conf sinfo -h -n "$node" -o %t 2>/dev/null || true)
        [ "$state" = idle ] && return 0
        for d in $(ls "$dir/pids"); do
            if ! _pid_is "$(cat "$dir/pids/$d" 2>/dev/null)" "$d"; then
                _log "$d died; last log lines:"; tail -n 8 "$dir/log/$d".* >&2; return 1
            fi
        done
        if [ $(( $(date +%s) - t0 )) -ge "$timeout" ]; then
            _log "node not idle after ${timeout}s (state '$state')"
            tail -n 20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2; return 1
        fi
        sleep 0.2
    done
}

# Start from scratch: stop whatever this dir recorded, wipe it, write config, start the 3 daemons.
slurm_start() {
    local dir=$SLURM_TEST_DIR
    local ctld_port=${SLURM_TEST_CTLD_PORT:-6817} slurmd_port=${SLURM_TEST_SLURMD_PORT:-6818}
    local node cpus sockets cores threads mem
    SLURM_TEST_SCHED_PARAMS=${SLURM_TEST_SCHED_PARAMS-sched_interval=1}   # set to "" for the default
    slurm_stop "$dir"
    case $PWD/ in "$dir"/*) cd / ;; esac
    rm -rf "$dir"
    mkdir -p "$dir"/{etc,munge,state,spool,log,pids,jobs}
    mkdir -m 700 "$dir/munge-key"

    node=$(hostname -s)
    # Hardware as slurmd sees it; RealMemory 90 % of detected so the node never goes INVALID.
    local c; c=$(slurmd -C 2>/dev/null | head -n 1)
    _f() { sed -n "s/.*[[:space:]]$1=\([0-9]*\).*/\1/p" <<<"$c"; }
    cpus=$(_f CPUs); sockets=$(_f SocketsPerBoard); cores=$(_f CoresPerSocket)
    threads=$(_f ThreadsPerCore); mem=$(_f RealMemory)
    [ -n "$cpus" ] || cpus=$(nproc)
    [ -n "$mem" ] || mem=$(awk '/MemTotal/{print int($2/1024)}' /proc/meminfo)
    mem=$(( mem * 9 / 10 ))
    local topo="CPUs=$cpus"
    [ -n "$sockets" ] && [ -n "$cores" ] && [ -n "$threads" ] && \
        topo="$topo Sockets=$sockets CoresPerSocket=$cores ThreadsPerCore=$threads"
    echo "$node" > "$dir/etc/nodename"
    # auth/none + cred/none (Slurm 22.05 still ships them) needs no munged at all, but any local
    # user could impersonate any other: fine for a throwaway CI cluster, gone in newer Slurm.
    local auth_lines
    if [ "${SLURM_TEST_AUTH:-munge}" = none ]; then
        auth_lines=$'AuthType=auth/none\nCredType=cred/none'
    else
        auth_lines=$'AuthType=auth/munge\nCredType=cred/munge\nAuthInfo=socket='"$dir/munge/munge.sock"
    fi

    cat > "$dir/etc/slurm.conf" <<EOF
ClusterName=citest
SlurmctldHost=${node}(127.0.0.1)
SlurmctldPort=${ctld_port}
SlurmdPort=${slurmd_port}
SlurmUser=root
SlurmdUser=root
${auth_lines}
StateSaveLocation=${dir}/state
SlurmdSpoolDir=${dir}/spool/%n
SlurmctldPidFile=${dir}/state/slurmctld.pid
SlurmdPidFile=${dir}/spool/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=${dir}/log/jobcomp.log
MailProg=/bin/true
ReturnToService=2
MinJobAge=${SLURM_TEST_MIN_JOB_AGE:-300}
${SLURM_TEST_SCHED_PARAMS:+SchedulerParameters=$SLURM_TEST_SCHED_PARAMS}
SlurmctldLogFile=${dir}/log/slurmctld.log
SlurmdLogFile=${dir}/log/slurmd.log
LogTimeFormat=iso8601_ms
SlurmctldDebug=info
SlurmdDebug=info
NodeName=${node} NodeAddr=127.0.0.1 ${topo} RealMemory=${mem} State=UNKNOWN
PartitionName=debug Nodes=${node} Default=YES MaxTime=INFINITE State=UP
EOF
    mkdir -p "$dir/spool/$node"
    export SLURM_CONF=$dir/etc/slurm.conf

    local t0 i; t0=$(_now_ms)
    # Daemons run with cwd=$dir (a subshell that cds, then execs: $! stays the daemon's PID).
    if [ "${SLURM_TEST_AUTH:-munge}" != none ]; then
        mungekey --create --keyfile="$dir/munge-key/munge.key" >/dev/null
        # munged as root needs --force; -F keeps it in the foreground (logs to stderr).
        (cd "$dir" && exec nohup munged -F --force --socket="$dir/munge/munge.sock" \
            --key-file="$dir/munge-key/munge.key" --pid-file="$dir/munge/munged.pid" \
            --seed-file="$dir/munge/munged.seed" </dev/null >"$dir/log/munged.log" 2>&1) &
        echo $! > "$dir/pids/munged"
        for i in $(seq 100); do [ -S "$dir/munge/munge.sock" ] && break; sleep 0.05; done
    fi
    (cd "$dir" && exec nohup slurmctld -D -f "$SLURM_CONF" </dev/null >"$dir/log/slurmctld.out" 2>&1) &
    echo $! > "$dir/pids/slurmctld"
    (cd "$dir" && exec nohup slurmd -D -f "$SLURM_CONF" -N "$node" </dev/null >"$dir/log/slurmd.out" 2>&1) &
    echo $! > "$dir/pids/slurmd"
    if ! slurm_wait_idle "$dir"; then slurm_stop "$dir"; return 1; fi
    echo $(( $(_now_ms) - t0 )) > "$dir/log/start_to_idle_ms"
    # Optional REST API on a unix socket (package slurmrestd; refuses root unless told).
    if [ "${SLURM_TEST_RESTD:-0}" = 1 ]; then
        (cd "$dir" && SLURMRESTD_SECURITY=disable_user_check exec nohup slurmrestd -f "$SLURM_CONF" \
            -a rest_auth/local -s openapi/v0.0.38 "unix:$dir/slurmrestd.sock" \
            </dev/null >"$dir/log/slurmrestd.log" 2>&1) &
        echo $! > "$dir/pids/slurmrestd"
        for i in $(seq 100); do [ -S "$dir/slurmrestd.sock" ] && break; sleep 0.05; done
        [ -S "$dir/slurmrestd.sock" ] || { _log "slurmrestd did not start:"; cat "$dir/log/slurmrestd.log" >&2; }
    fi
    _log "node $node idle $(cat "$dir/log/start_to_idle_ms") ms after first daemon start" \
         "(pids: $(cd "$dir/pids" && for f in *; do printf '%s=%s ' "$f" "$(cat "$f")"; done))"
}

# Wait until job ID is finished; prints "STATE EXITCODE" (ExitCode is "status:signal").
# Gives up after TIMEOUT s (default 120). Needs the job record: MinJobAge keeps it 300 s.
slurm_wait_job() {
    local id=$1 timeout=${2:-120} t0 line st ec
    [ -n "$id" ] || { echo "NO_JOB_ID"; return 1; }
    t0=$(date +%s)
    while :; do
        line=$(scontrol -o show job "$id" 2>/dev/null || true)
        st=$(sed -n 's/.* JobState=\([A-Z_]*\).*/\1/p' <<<"$line")
        ec=$(sed -n 's/.* ExitCode=\([0-9]*:[0-9]*\).*/\1/p' <<<"$line")
        case $st in
            COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|PREEMPTED|BOOT_FAIL|DEADLINE)
                echo "$st $ec"; return 0;;
        esac
        [ $(( $(date +%s) - t0 )) -ge "$timeout" ] && { echo "TIMEOUT_WAITING ${st:-?}"; return 1; }
        sleep 0.1
    done
}

slurm_logs() {
    local f
    for f in "$SLURM_TEST_DIR"/log/*.log; do
        [ -f "$f" ] || continue
        echo "--- $f (last 30 lines)"
        tail -n 30 "$f"
    done
}

# Run as a program (not when sourced).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -uo pipefail
    case ${1:-} in
        install) slurm_install ;;
        start)   if ! slurm_install; then
                     echo "cluster.sh: installing slurmctld slurmd slurm-client munge failed" >&2; exit 1
                 fi
                 if ! slurm_start >&2; then
                     echo "cluster.sh: the cluster did not start; the daemons' logs:" >&2
                     slurm_logs >&2; exit 1
                 fi
                 echo "export SLURM_CONF=$SLURM_TEST_DIR/etc/slurm.conf SLURM_TEST_DIR=$SLURM_TEST_DIR" ;;
        stop)    slurm_stop "${2:-$SLURM_TEST_DIR}" ;;
        logs)    slurm_logs ;;
        *) echo "usage: $0 start|stop|install|logs" >&2; exit 2 ;;
    esac
fi
