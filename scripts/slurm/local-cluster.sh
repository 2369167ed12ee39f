#!/usr/bin/env bash
# A throwaway one-node SLURM cluster on this machine, for tests and for trying
# the job scripts without a real cluster: munged with a generated key on a
# private socket, slurmctld and slurmd on loopback at free ports, all state in
# DIR. No systemd, cgroups, accounting or network. Debian 12: apt install
# slurmctld slurmd slurm-client munge (--no-install-recommends).
#
#   scripts/slurm/local-cluster.sh start DIR   # prints: export SLURM_CONF=DIR/slurm.conf
#   scripts/slurm/local-cluster.sh stop DIR    # cancels jobs, stops slurmctld/slurmd, then munged
#
# start exits 3 with one line on stderr when the cluster cannot be started
# (missing packages, a daemon that does not come up); its logs stay in DIR.
set -euo pipefail

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
dir=$(realpath -m "$dir")
cant() { echo "local-cluster.sh: cannot start: $*" >&2; exit 3; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits up to $1 seconds for command "${@:2}" to succeed.
wait_for() {
  local t=$1; shift
  for _ in $(seq $((t * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

start() {
  for b in munged mungekey slurmctld slurmd sbatch squeue scontrol; do
    command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || cant "$b not installed (apt install slurmctld slurmd slurm-client munge)"
  done
  export PATH="$PATH:/usr/sbin"
  mkdir -p "$dir"/{munge,state,spool,log}
  chmod 755 "$dir" "$dir/munge"  # munged's socket directory must be reachable (o+x)
  chmod 700 "$dir/state" "$dir/spool"
  mungekey --create --keyfile="$dir/munge/munge.key" 2>/dev/null || cant "mungekey failed"
  chmod 600 "$dir/munge/munge.key"
  munged --force --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed" \
    || cant "munged failed (see $dir/log/munged.log)"
  local ctld_port slurmd_port
  ctld_port=$(free_port); slurmd_port=$(free_port)
  cat > "$dir/slurm.conf" <<CONF
ClusterName=qkvlocal
SlurmctldHost=localhost
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=$(id -un)
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
SlurmdParameters=config_overrides
KillWait=5
MinJobAge=600
NodeName=node0 NodeAddr=127.0.0.1 CPUs=2 RealMemory=1000 State=UNKNOWN
PartitionName=local Nodes=node0 Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$dir/slurm.conf"
  slurmctld -i -f "$SLURM_CONF" || cant "slurmctld failed (see $dir/log/slurmctld.log)"
  wait_for 20 scontrol ping || cant "slurmctld does not answer (see $dir/log/slurmctld.log)"
  slurmd -N node0 -f "$SLURM_CONF" || cant "slurmd failed (see $dir/log/slurmd.log)"
  wait_for 30 bash -c 'sinfo -h -n node0 -o %t | grep -Eq "^(idle|mix|alloc)"' \
    || cant "node0 does not become idle (see $dir/log/slurmd.log)"
  echo "export SLURM_CONF=$SLURM_CONF"
}

pid_of() { cat "$1" 2>/dev/null; }

stop() {
  export PATH="$PATH:/usr/sbin" SLURM_CONF="$dir/slurm.conf"
  if [ -f "$SLURM_CONF" ]; then
    # Jobs first: a running job's slurmstepd ignores SIGTERM.
    scancel --full --quiet $(squeue -h -o %A 2>/dev/null) 2>/dev/null || true
    wait_for 20 bash -c '[ -z "$(squeue -h -o %A)" ]' || true
    scontrol shutdown >/dev/null 2>&1 || true
  fi
  for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid"; do
    local pid; pid=$(pid_of "$pidfile") || continue
    wait_for 15 bash -c "! kill -0 $pid" || kill -KILL "$pid" 2>/dev/null || true
  done
  # munged last: the SLURM daemons talk through it until they are gone.
  if [ -S "$dir/munge/munge.socket" ]; then
    munged --stop --socket="$dir/munge/munge.socket" >/dev/null 2>&1 || true
  fi
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
