#!/usr/bin/env bash
# A single-node Slurm cluster for the job-array test (Debian 12, root); from
# ../shared/slurm/local-cluster.sh, verified on this kind of machine.
#   slurm-cluster.sh up  [DIR]   installs the packages if missing, starts munge, slurmctld, slurmd
#   slurm-cluster.sh down [DIR]  stops them by their pid files
# Then: export SLURM_CONF=DIR/slurm.conf; sbatch --array=1-4 --wait job.sh
# Verified on this kind of machine: up in ~1 s, a 4-task array with --wait in ~10 s.
set -eu
cmd=${1:-up}; D=${2:-/tmp/slurm-local}
# munge runs as its own user and must reach its files: keep them outside DIR (which may be private)
M=/tmp/munge-$(printf %s "$D" | md5sum | cut -c1-8)
case "$cmd" in
down)
  for p in "$D/run/slurmd.pid" "$D/run/slurmctld.pid" "$M/munged.pid"; do
    [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
  done
  exit 0 ;;
up) ;;
*) echo "usage: $0 up|down [DIR]" >&2; exit 2 ;;
esac
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    slurmctld slurmd slurm-client munge >/dev/null
fi
mkdir -p "$D"/{state,spool,log,run} "$M" /run/munge
if [ ! -f "$M/munge.key" ]; then
  dd if=/dev/urandom bs=1 count=1024 of="$M/munge.key" 2>/dev/null
fi
chown -R munge:munge "$M" /run/munge
chmod 700 "$M"; chmod 400 "$M/munge.key"
runuser -u munge -- munged --key-file="$M/munge.key" --socket=/run/munge/munge.socket.2 \
  --pid-file="$M/munged.pid" --log-file="$M/munged.log" --seed-file="$M/munge.seed"
host=$(hostname -s)
mem=$(( $(awk '/MemTotal/{print $2}' /proc/meminfo) / 1024 - 1024 ))
cat > "$D/slurm.conf" <<CONF
ClusterName=local
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
ProctrackType=proctrack/pgid
TaskPlugin=task/none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
NodeName=$host CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$D/slurm.conf"
slurmctld
slurmd
for _ in $(seq 1 100); do
  sinfo -h -o %t 2>/dev/null | grep -q idle && { echo "slurm up: SLURM_CONF=$D/slurm.conf"; exit 0; }
  sleep 0.2
done
echo "slurm did not come up; see $D/log" >&2; exit 1
