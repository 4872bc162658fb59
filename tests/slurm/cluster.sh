#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for murad's SLURM tests (tests/test_slurm.py) and CI.
#
#   tests/slurm/cluster.sh start    install (apt, only what is missing), configure and start every daemon, then wait
#                                   until the node is idle; with everything already running it does nothing
#   tests/slurm/cluster.sh status   each daemon's state and `sinfo`; exit 0 only when the cluster takes jobs
#   tests/slurm/cluster.sh stop     stop the daemons this script started (by the pids it recorded), nothing else
#
# Needs root and apt (Debian 12: munge 0.5, SLURM 22.05, MariaDB 10.11). Works without systemd or cgroups.
# The cluster: ClusterName=ci, one node `localhost` with the CPUs and memory `slurmd -C` reports and two fake GPUs
# (GRES gpu on /dev/null and /dev/zero: GPU requests are scheduled and accounted without a GPU), partitions `main`
# (the default) and `gpu` (the same node, as a site's GPU partition for tests that send GPU jobs elsewhere),
# accounting through slurmdbd + MariaDB (account `ci`, user root), so `sacct` answers as on a real cluster.
set -euo pipefail

CLUSTER=ci
ACCOUNT=ci
PARTITION=main
GPU_PARTITION=gpu
NODE=localhost
MARK="# written by murad tests/slurm/cluster.sh"
CONF_DIR=/etc/slurm
RUN_DIR=/run/murad-slurm          # pid files of the daemons this script started (gone after a reboot, as they are)
LOG_DIR=/var/log/slurm
STATE_DIR=/var/lib/slurm
PACKAGES=(munge slurmctld slurmd slurmdbd mariadb-server slurm-client)
DB_SOCKET=/run/mysqld/mysqld.sock
DB_LOG=/var/log/mysql/murad-slurm.log
# Two fake GPUs (as many as this 2-core machine has cores, so that GPU jobs run side by side as on a GPU node);
# a GPU GRES needs a character device, and these two exist everywhere.
FAKE_GPUS=(/dev/null /dev/zero)

say() { echo "cluster.sh: $*" >&2; }
die() { say "$*"; exit 1; }

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: poll every 0.5 s until COMMAND succeeds
    local seconds=$1 what=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || { say "timed out after ${seconds}s waiting for $what"; return 1; }
        sleep 0.5
    done
}

# --- probes: is each daemon answering (whoever started it)? ---
munge_up() { command -v munge >/dev/null && munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
mariadb_up() { command -v mariadb-admin >/dev/null && mariadb-admin --socket="$DB_SOCKET" ping >/dev/null 2>&1; }
slurmdbd_up() { command -v sacctmgr >/dev/null && timeout 10 sacctmgr -n list cluster >/dev/null 2>&1; }
slurmctld_up() { command -v scontrol >/dev/null && timeout 10 scontrol ping 2>/dev/null | grep -q "is UP"; }
node_state() { timeout 10 sinfo -h -n "$NODE" -o %t 2>/dev/null | head -1; }
node_idle() { [ "$(node_state)" = idle ]; }
node_up() {  # taking jobs (idle, or busy with some)
    case "$(node_state)" in idle | mix | alloc | comp) return 0 ;; *) return 1 ;; esac
}
slurmd_up() { pid_alive "$(cat /run/slurmd.pid 2>/dev/null || true)" slurmd && node_up; }

pid_alive() {  # pid_alive PID NAME: the process exists and is NAME (not a reused pid)
    [ -n "$1" ] && [ -r "/proc/$1/comm" ] && [ "$(cat "/proc/$1/comm")" = "$2" ]
}

record() {  # record NAME PIDFILE: remember that this script started NAME (its pid, read from the daemon's pid file)
    local pid
    wait_for 30 "$1 to write $2" test -s "$2" || return 1
    pid=$(tr -dc 0-9 <"$2")
    mkdir -p "$RUN_DIR"
    echo "$pid" >"$RUN_DIR/$1.pid"
    echo "$2" >"$RUN_DIR/$1.pidfile"
}

show_logs() {
    for log in "$LOG_DIR"/slurmctld.log "$LOG_DIR"/slurmd.log "$LOG_DIR"/slurmdbd.log "$DB_LOG"; do
        [ -f "$log" ] && { say "--- last lines of $log"; tail -n 15 "$log" >&2; }
    done
    return 0
}

# --- install ---
missing_packages() {
    local pkg
    for pkg in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
    done
}

install_packages() {
    local missing
    missing=$(missing_packages)
    [ -z "$missing" ] && return 0
    command -v apt-get >/dev/null || die "apt-get not found; install these yourself: $missing"
    say "installing $(echo $missing) (apt)"
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086
    if ! apt-get install -y -q --no-install-recommends $missing >/dev/null; then
        say "apt-get install failed; updating the package lists and trying again"
        apt-get update -q >/dev/null
        apt-get install -y -q --no-install-recommends $missing >/dev/null
    fi
}

# --- configuration ---
slurm_conf() {
    local hardware
    # `slurmd -C` prints "NodeName=<host> CPUs=2 Boards=1 ... RealMemory=24105"; keep all but the name
    hardware=$(slurmd -C | head -1 | tr ' ' '\n' | grep -v '^NodeName=' | tr '\n' ' ')
    [ -n "$hardware" ] || die "slurmd -C printed nothing"
    cat <<EOF
$MARK
ClusterName=$CLUSTER
SlurmctldHost=localhost
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
GresTypes=gpu
ReturnToService=2
MinJobAge=300
StateSaveLocation=$STATE_DIR/slurmctld
SlurmdSpoolDir=$STATE_DIR/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment
NodeName=$NODE NodeAddr=127.0.0.1 ${hardware}Gres=gpu:${#FAKE_GPUS[@]} State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=$GPU_PARTITION Nodes=ALL Default=NO MaxTime=INFINITE State=UP
EOF
}

gres_conf() {  # fake GPUs: a GPU GRES needs a character device (a regular file sets no CUDA_VISIBLE_DEVICES)
    local device
    echo "$MARK"
    echo "AutoDetect=off"
    for device in "${FAKE_GPUS[@]}"; do echo "NodeName=$NODE Name=gpu File=$device"; done
}

slurmdbd_conf() {  # the database password is made once and kept
    local password
    password=$(sed -n 's/^StoragePass=//p' "$CONF_DIR/slurmdbd.conf" 2>/dev/null || true)
    [ -n "$password" ] || password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
    cat <<EOF
$MARK
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
PidFile=/run/slurmdbd.pid
LogFile=$LOG_DIR/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$password
StorageLoc=slurm_acct_db
EOF
}

configs_current() {  # every config file holds what this script would write now
    [ -f "$CONF_DIR/slurm.conf" ] && [ -f "$CONF_DIR/gres.conf" ] && [ -f "$CONF_DIR/slurmdbd.conf" ] \
        && [ "$(slurm_conf)" = "$(cat "$CONF_DIR/slurm.conf")" ] \
        && [ "$(gres_conf)" = "$(cat "$CONF_DIR/gres.conf")" ] \
        && [ "$(slurmdbd_conf)" = "$(cat "$CONF_DIR/slurmdbd.conf")" ]
}

write_config() {  # write_config PATH MODE OWNER FUNCTION: never overwrite a configuration this script did not write
    local path=$1 mode=$2 owner=$3 tmp
    if [ -e "$path" ] && ! grep -qxF "$MARK" "$path"; then
        die "$path exists and was not written by this script; not touching a configured SLURM"
    fi
    tmp=$(mktemp)
    "$4" >"$tmp"
    install -m "$mode" -o "${owner%:*}" -g "${owner#*:}" "$tmp" "$path"
    rm -f "$tmp"
}

configure() {
    mkdir -p "$CONF_DIR" "$LOG_DIR" "$STATE_DIR/slurmctld" "$STATE_DIR/slurmd" "$RUN_DIR"
    chown slurm:slurm "$LOG_DIR" "$STATE_DIR" "$STATE_DIR/slurmctld"
    configs_current && return 0
    # SLURM daemons read their configuration when they start: restart the ones this script runs
    local name
    for name in slurmd slurmctld slurmdbd; do
        if [ -f "$RUN_DIR/$name.pid" ]; then
            stop_one "$name"
        elif pgrep -x "$name" >/dev/null; then
            die "$name runs (not started by this script) with another configuration; stop it first"
        fi
    done
    say "writing $CONF_DIR/slurm.conf, gres.conf and slurmdbd.conf"
    write_config "$CONF_DIR/slurm.conf" 644 root:root slurm_conf
    write_config "$CONF_DIR/gres.conf" 644 root:root gres_conf
    # slurmdbd insists on mode 600 and the slurm user as owner (the file holds the database password)
    write_config "$CONF_DIR/slurmdbd.conf" 600 slurm:slurm slurmdbd_conf
}

# --- daemons, in order ---
start_munge() {
    munge_up && return 0
    if [ ! -s /etc/munge/munge.key ]; then  # the munge package makes one; just in case it did not
        mungekey --create
        chown munge:munge /etc/munge/munge.key
        chmod 400 /etc/munge/munge.key
    fi
    install -d -o munge -g munge -m 755 /run/munge
    rm -f /run/munge/munged.pid
    say "starting munged"
    runuser -u munge -- /usr/sbin/munged
    record munged /run/munge/munged.pid
    wait_for 30 "munged" munge_up
}

start_mariadb() {
    mariadb_up && return 0
    install -d -o mysql -g mysql -m 755 /run/mysqld
    [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
    install -d -o mysql -g adm -m 2750 /var/log/mysql
    say "starting mariadbd"
    rm -f /run/mysqld/mariadbd.pid
    # only local connections through the socket; pid file and log where the mysql user may write
    setsid /usr/sbin/mariadbd --user=mysql --skip-networking --socket="$DB_SOCKET" \
        --pid-file=/run/mysqld/mariadbd.pid --log-error="$DB_LOG" \
        --innodb-buffer-pool-size=128M --innodb-lock-wait-timeout=900 </dev/null >/dev/null 2>&1 &
    record mariadbd /run/mysqld/mariadbd.pid
    wait_for 60 "mariadbd" mariadb_up
}

database_user() {
    local password
    password=$(sed -n 's/^StoragePass=//p' "$CONF_DIR/slurmdbd.conf")
    mariadb --socket="$DB_SOCKET" <<EOF
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$password';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$password';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
EOF
}

start_slurmdbd() {
    slurmdbd_up && return 0
    database_user
    rm -f /run/slurmdbd.pid
    say "starting slurmdbd"
    slurmdbd
    record slurmdbd /run/slurmdbd.pid
    wait_for 60 "slurmdbd" slurmdbd_up
}

accounting() {  # cluster, account and user, each added once
    if [ -z "$(sacctmgr -n -P list cluster "$CLUSTER" format=cluster)" ]; then
        sacctmgr -i add cluster "$CLUSTER" >/dev/null || return 1
    fi
    if [ -z "$(sacctmgr -n -P list account "$ACCOUNT" format=account)" ]; then
        sacctmgr -i add account "$ACCOUNT" Cluster="$CLUSTER" Description=murad-tests Organization=murad >/dev/null \
            || return 1
    fi
    if ! sacctmgr -n -P -s list user root format=user,account | grep -qx "root|$ACCOUNT"; then
        sacctmgr -i add user root Account="$ACCOUNT" Cluster="$CLUSTER" >/dev/null || return 1
    fi
}

start_slurmctld() {
    slurmctld_up && return 0
    rm -f /run/slurmctld.pid
    say "starting slurmctld"
    slurmctld
    record slurmctld /run/slurmctld.pid
    wait_for 60 "slurmctld" slurmctld_up
}

start_slurmd() {
    pid_alive "$(cat /run/slurmd.pid 2>/dev/null || true)" slurmd && return 0
    rm -f /run/slurmd.pid
    say "starting slurmd"
    slurmd -N "$NODE"
    record slurmd /run/slurmd.pid
}

wait_node_idle() {
    if ! wait_for 60 "node $NODE to be idle" node_idle; then
        case "$(node_state)" in
            *drain* | down* | inval* | *drng*)
                say "node $NODE is $(node_state); resuming it"
                scontrol update NodeName="$NODE" State=RESUME || true
                wait_for 30 "node $NODE to be idle" node_idle ;;
            *) return 1 ;;
        esac
    fi
}

everything_up() { munge_up && mariadb_up && slurmdbd_up && slurmctld_up && slurmd_up; }

start() {
    [ "$(id -u)" -eq 0 ] || die "must run as root"
    if [ -z "$(missing_packages)" ] && configs_current && everything_up; then
        say "cluster already running (node $NODE $(node_state))"
        return 0
    fi
    install_packages
    configure
    {
        start_munge && start_mariadb && start_slurmdbd && accounting && start_slurmctld && start_slurmd \
            && wait_node_idle
    } || { show_logs; die "the cluster did not come up"; }
    say "cluster up: $(sinfo -h -o '%P %D %t %G %c CPUs %m MB' | head -1)"
}

stop_one() {  # stop_one NAME: stop it if this script started it and it still runs
    local name=$1 pid pidfile
    [ -f "$RUN_DIR/$name.pid" ] || return 0
    pid=$(cat "$RUN_DIR/$name.pid")
    pidfile=$(cat "$RUN_DIR/$name.pidfile" 2>/dev/null || true)
    if pid_alive "$pid" "$name"; then
        say "stopping $name ($pid)"
        kill -TERM "$pid"
        local deadline=$((SECONDS + 30))
        while pid_alive "$pid" "$name" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
        pid_alive "$pid" "$name" && { say "$name did not stop; killing it"; kill -KILL "$pid"; }
    fi
    # a stale daemon pid file (e.g. /run/slurmctld.pid) would confuse the next start and apt-get purge
    if [ -n "$pidfile" ] && [ -f "$pidfile" ] && [ "$(tr -dc 0-9 <"$pidfile")" = "$pid" ]; then rm -f "$pidfile"; fi
    rm -f "$RUN_DIR/$name.pid" "$RUN_DIR/$name.pidfile"
}

stop() {
    [ "$(id -u)" -eq 0 ] || die "must run as root"
    local name
    for name in slurmd slurmctld slurmdbd mariadbd munged; do stop_one "$name"; done
}

status() {
    local ok=0 probe
    for probe in munge_up mariadb_up slurmdbd_up slurmctld_up slurmd_up; do
        if "$probe"; then echo "${probe%_up}: running"; else echo "${probe%_up}: not running"; ok=1; fi
    done
    if command -v sinfo >/dev/null; then sinfo 2>&1 || true; fi
    return "$ok"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
