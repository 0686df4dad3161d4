#!/usr/bin/env bash
# Berth "real stack": a private Docker Engine with a single-node Swarm, an OCI
# registry and Redis, all on loopback. Tests and the demo run against these
# real services, never fakes.
#
#   scripts/stack.sh install                                  Debian packages (no-op when present)
#   scripts/stack.sh start [all|docker|registry|redis|swarm|postgres]
#                                                             idempotent; all also builds the test image
#                                                             (postgres is separate: the suite's second database)
#   scripts/stack.sh stop | status | env
#
# Config: BERTH_STACK_DIR (/tmp/berth-stack), BERTH_REGISTRY_PORT (5000),
#         BERTH_REDIS_PORT (6379), BERTH_SWARM_PORT (2377, swarm manager API),
#         BERTH_PG_PORT (5499).
#         A DOCKER_HOST that answers is reused.
# In $BERTH_STACK_DIR: <name>.pid, <name>.log, stack.env (source it),
#         registry.yml, docker.external (reused DOCKER_HOST), data dirs.
set -euo pipefail

DIR=${BERTH_STACK_DIR:-/tmp/berth-stack}
[[ $DIR == /* ]] || DIR=$PWD/$DIR # daemons need absolute paths
REG_PORT=${BERTH_REGISTRY_PORT:-5000}
REDIS_PORT=${BERTH_REDIS_PORT:-6379}
SWARM_PORT=${BERTH_SWARM_PORT:-2377}
PG_PORT=${BERTH_PG_PORT:-5499}
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
SOCK=$DIR/docker.sock
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# curl is used for readiness checks and is not on every fresh image.
PACKAGES=(docker.io docker-registry redis-server busybox-static skopeo chromium curl postgresql haproxy)

log() { echo "stack: $*"; }
die() { echo "stack: error: $*" >&2; exit 1; }

# alive PID: true for a live process. Zombies do not count: where PID 1 does
# not reap, a stopped daemon lingers as one.
alive() {
  local st
  read -r st 2>/dev/null <"/proc/$1/stat" || return 1
  st=${st##*) }
  [[ ${st%% *} != Z ]]
}

# pid_of NAME COMM: the pid in $DIR/NAME.pid if alive and really COMM
# (a stale pid file may name a recycled pid).
pid_of() {
  local pid
  pid=$(cat "$DIR/$1.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$2" ]] && echo "$pid"
}

docker_ok() { DOCKER_HOST=$1 timeout 10 docker info >/dev/null 2>&1; }
registry_ok() { [[ $(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$REG_PORT/v2/") == 200 ]]; }
redis_ok() { [[ $(timeout 2 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; }

# The engine in use: a reused one if recorded, else our private socket.
docker_host() { cat "$DIR/docker.external" 2>/dev/null || echo "unix://$SOCK"; }

# launch NAME CMD...: run CMD in its own session so it outlives this shell,
# output to NAME.log. setsid execs in place, so $! is the daemon's pid.
launch() {
  local name=$1
  shift
  echo "--- $(date -u +%FT%TZ) starting: $*" >>"$DIR/$name.log"
  setsid nohup "$@" >>"$DIR/$name.log" 2>&1 </dev/null &
  LAUNCHED=$!
}

# wait_for NAME SECS PID CHECK...: poll CHECK; fail naming the component and
# its log on timeout or if the process dies first.
wait_for() {
  local name=$1 secs=$2 pid=$3 i
  shift 3
  for ((i = 0; i < secs * 5; i++)); do
    "$@" && return 0
    alive "$pid" || die "$name exited during startup; see $DIR/$name.log"
    sleep 0.2
  done
  die "$name not ready after ${secs}s; see $DIR/$name.log"
}

install_packages() {
  local have missing=() p sudo=()
  have=$(dpkg-query -W -f='${db:Status-Status} ${Package}\n' "${PACKAGES[@]}" 2>/dev/null || true)
  for p in "${PACKAGES[@]}"; do
    grep -qx "installed $p" <<<"$have" || missing+=("$p")
  done
  ((${#missing[@]})) || { log "install: all packages present"; return; }
  ((EUID == 0)) || sudo=(sudo) # CI runners are often non-root with sudo
  log "install: ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
}

start_docker() {
  local pid ext
  if pid=$(pid_of docker dockerd); then
    wait_for docker 30 "$pid" docker_ok "unix://$SOCK"
    rm -f "$DIR/docker.external"
    log "docker: running (pid $pid, unix://$SOCK), reused"
    return
  fi
  # An engine the caller already has (CI, a developer's dockerd) wins over a new one.
  ext=${DOCKER_HOST:-}
  [[ -z $ext || $ext == "unix://$SOCK" ]] && ext=$(cat "$DIR/docker.external" 2>/dev/null || true)
  if [[ -n $ext ]] && docker_ok "$ext"; then
    echo "$ext" >"$DIR/docker.external"
    log "docker: reusing the engine at DOCKER_HOST=$ext (not starting one)"
    return
  fi
  rm -f "$DIR/docker.external" "$DIR/docker.pid" # dockerd refuses a stale pid file
  # dockerd waits for any containerd its pid file names, zombies included.
  pid_of docker-exec/containerd/containerd containerd >/dev/null ||
    rm -f "$DIR/docker-exec/containerd/containerd.pid"
  ((${#SOCK} < 108)) || die "docker: socket path $SOCK is too long (unix sockets need < 108 chars); use a shorter BERTH_STACK_DIR"
  mkdir -p "$DIR/docker" "$DIR/docker-exec"
  # No bridge/iptables: containers use host or none networking, never private-range addresses.
  launch docker dockerd --host "unix://$SOCK" \
    --data-root "$DIR/docker" --exec-root "$DIR/docker-exec" --pidfile "$DIR/docker.pid" \
    --bridge=none --iptables=false --ip-masq=false
  wait_for docker 30 "$LAUNCHED" docker_ok "unix://$SOCK"
  log "docker: started (pid $LAUNCHED, unix://$SOCK)"
}

# start_daemon NAME COMM ADDR CHECK CMD...: reuse our live NAME, or anything
# already answering CHECK at ADDR; otherwise launch CMD and wait for CHECK.
start_daemon() {
  local name=$1 comm=$2 addr=$3 check=$4 pid
  shift 4
  if pid=$(pid_of "$name" "$comm"); then
    wait_for "$name" 15 "$pid" "$check"
    log "$name: running (pid $pid, $addr), reused"
  elif "$check"; then
    log "$name: something already answers at $addr, reusing it"
  else
    launch "$name" "$@"
    echo "$LAUNCHED" >"$DIR/$name.pid"
    wait_for "$name" 15 "$LAUNCHED" "$check"
    log "$name: started (pid $LAUNCHED, $addr)"
  fi
}

start_registry() {
  mkdir -p "$DIR/registry"
  cat >"$DIR/registry.yml" <<EOF
version: 0.1
storage:
  filesystem: {rootdirectory: $DIR/registry}
  delete: {enabled: true}
http: {addr: 127.0.0.1:$REG_PORT}
EOF
  start_daemon registry docker-registry "http://127.0.0.1:$REG_PORT" registry_ok \
    docker-registry serve "$DIR/registry.yml"
}

# No persistence: the stack is disposable test infrastructure.
start_redis() {
  start_daemon redis redis-server "127.0.0.1:$REDIS_PORT" redis_ok \
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
    --daemonize no --dir "$DIR"
}

pg_ok() { [[ -n $PG_BIN ]] && "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; }

# PostgreSQL as the postgres user (initdb refuses root), trust on loopback only: test
# infrastructure, never a production setup. Database "berth", user "berth".
start_postgres() {
  local data=$DIR/pg/data pid
  [[ -n $PG_BIN ]] || die "postgres: no /usr/lib/postgresql/*/bin (run '$0 install')"
  if pg_ok; then log "postgres: running (127.0.0.1:$PG_PORT), reused"; return; fi
  mkdir -p "$DIR/pg"
  chown postgres "$DIR/pg"
  if [[ ! -s $data/PG_VERSION ]]; then
    su postgres -s /bin/sh -c "$PG_BIN/initdb -D $data -A trust -U berth" >>"$DIR/postgres.log" 2>&1 ||
      die "postgres: initdb failed; see $DIR/postgres.log"
  fi
  su postgres -s /bin/sh -c "$PG_BIN/pg_ctl -D $data -l $DIR/pg/server.log -w -o \"-p $PG_PORT -k $DIR/pg -c listen_addresses=127.0.0.1 -c fsync=off\" start" \
    >>"$DIR/postgres.log" 2>&1 || die "postgres: did not start; see $DIR/pg/server.log"
  pid=$(head -1 "$data/postmaster.pid")
  echo "$pid" >"$DIR/postgres.pid"
  psql -h 127.0.0.1 -p "$PG_PORT" -U berth -d postgres -tAc "select 1 from pg_database where datname='berth'" | grep -q 1 ||
    psql -h 127.0.0.1 -p "$PG_PORT" -U berth -d postgres -qc "create database berth" >>"$DIR/postgres.log"
  log "postgres: started (pid $pid, 127.0.0.1:$PG_PORT)"
}

stop_postgres() {
  if [[ -n $PG_BIN && -s $DIR/pg/data/postmaster.pid ]]; then
    su postgres -s /bin/sh -c "$PG_BIN/pg_ctl -D $DIR/pg/data -m fast -w stop" >>"$DIR/postgres.log" 2>&1 || true
    log "postgres: stopped"
  fi
  rm -f "$DIR/postgres.pid"
}

start_swarm() {
  local host state
  host=$(docker_host)
  state=$(DOCKER_HOST=$host docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || true)
  [[ $state == active ]] && { log "swarm: active, reused"; return; }
  # Loopback only: a single-node swarm needs no real network, and a
  # per-stack manager port lets several stacks run side by side.
  DOCKER_HOST=$host docker swarm init --advertise-addr "127.0.0.1:$SWARM_PORT" \
    --listen-addr "127.0.0.1:$SWARM_PORT" >>"$DIR/swarm.log" 2>&1 ||
    die "swarm: 'docker swarm init' failed: $(tail -1 "$DIR/swarm.log"); see $DIR/swarm.log"
  log "swarm: initialised on $host"
}

write_env() {
  {
    echo "# Berth real stack in $DIR, written by scripts/stack.sh; source this file."
    [[ ! -s $DIR/docker.external ]] || echo "# engine reused from DOCKER_HOST, not started by stack.sh"
    printf 'export DOCKER_HOST=%q\n' "$(docker_host)"
    echo "export BERTH_REGISTRY_URL=http://127.0.0.1:$REG_PORT"
    echo "export BERTH_STACK_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
    echo "export BERTH_TEST_IMAGE=berth/testapp:latest"
    echo "export BERTH_TEST_REGISTRY_IMAGE=127.0.0.1:$REG_PORT/demo/app:latest"
    # Not DATABASE_URL: the suite runs on SQLite unless asked (scripts/test.sh --postgres).
    echo "export BERTH_STACK_DATABASE_URL=postgres://berth@127.0.0.1:$PG_PORT/berth"
  } >"$DIR/stack.env.tmp"
  mv "$DIR/stack.env.tmp" "$DIR/stack.env" # atomic: a reader never sees half a file
}

# stop_pid NAME COMM SECS: SIGTERM the process in NAME.pid, SIGKILL after SECS.
stop_pid() {
  local pid i
  if pid=$(pid_of "$1" "$2"); then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < $3 * 5; i++)); do alive "$pid" || break; sleep 0.2; done
    if alive "$pid"; then
      log "$1: still running after $3s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    log "$1: stopped (pid $pid)"
  else
    log "$1: not running"
  fi
  rm -f "$DIR/$1.pid"
}

# cleanup_engine: after a crashed or SIGKILLed dockerd its containerd exits
# too (parent-death signal), but containers and their shims survive by
# design. Kill them via the init.pid files containerd keeps per task, then
# unmount what the engine left mounted under $DIR.
cleanup_engine() {
  local f id pid shim mnt
  for f in "$DIR"/docker-exec/containerd/daemon/io.containerd.runtime.v2.task/*/*/init.pid; do
    id=$(basename "$(dirname "$f")")
    pid=$(cat "$f" 2>/dev/null) || continue
    if ! alive "$pid" || ! grep -q "$id" "/proc/$pid/cgroup" 2>/dev/null; then continue; fi
    shim=$(awk '/^PPid:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    kill -KILL "$pid" 2>/dev/null || true
    [[ $(cat "/proc/$shim/comm" 2>/dev/null) != containerd-shim ]] || kill -KILL "$shim" || true
    log "docker: killed leftover container ${id:0:12} (pid $pid, shim $shim)"
  done
  if pid=$(pid_of docker-exec/containerd/containerd containerd); then kill -KILL "$pid" || true; fi
  awk -v d="$DIR/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r |
    while read -r mnt; do umount "$mnt" || log "docker: could not unmount $mnt"; done
}

stop_all() {
  if [[ -s $DIR/docker.external ]]; then
    log "docker: reused engine $(<"$DIR/docker.external") left running" # not ours to change
  else
    if pid_of docker dockerd >/dev/null && docker_ok "unix://$SOCK"; then
      DOCKER_HOST=unix://$SOCK docker swarm leave --force >>"$DIR/swarm.log" 2>&1 || true
    fi
    stop_pid docker dockerd 20
    docker_ok "unix://$SOCK" || cleanup_engine
  fi
  stop_pid registry docker-registry 10
  stop_pid redis redis-server 10
  stop_postgres
  rm -f "$DIR/docker.external" "$DIR/stack.env"
}

# show NAME PID ADDRESS CHECK...: one status line.
show() {
  local name=$1 pid=$2 addr=$3
  shift 3
  if [[ -n $pid ]] && "$@"; then echo "$name: running (pid $pid, $addr)"
  elif [[ -n $pid ]]; then echo "$name: running but not answering (pid $pid, $addr)"
  elif "$@"; then echo "$name: running (not started by stack.sh, $addr)"
  else echo "$name: stopped"; fi
}

status() {
  local host state
  host=$(docker_host)
  show docker "$(pid_of docker dockerd || true)" "$host" docker_ok "$host"
  show registry "$(pid_of registry docker-registry || true)" "http://127.0.0.1:$REG_PORT" registry_ok
  show redis "$(pid_of redis redis-server || true)" "127.0.0.1:$REDIS_PORT" redis_ok
  show postgres "$(cat "$DIR/postgres.pid" 2>/dev/null || true)" "127.0.0.1:$PG_PORT" pg_ok
  state=$(DOCKER_HOST=$host timeout 10 docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || true)
  echo "swarm: ${state:-stopped}"
}

usage() { awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0" >&2; exit 2; }

case ${1:-} in
install) install_packages ;;
start)
  target=${2:-all}
  case $target in
  all) parts=(docker registry redis swarm) ;;
  swarm) parts=(docker swarm) ;; # swarm needs an engine
  docker | registry | redis | postgres) parts=("$target") ;;
  *) usage ;;
  esac
  mkdir -p "$DIR"
  for part in "${parts[@]}"; do "start_$part"; done
  write_env
  if [[ $target == all ]]; then
    DOCKER_HOST=$(docker_host) BERTH_REGISTRY_URL=http://127.0.0.1:$REG_PORT "$HERE/build-test-image.sh"
  fi
  log "ready: source $DIR/stack.env"
  ;;
stop) stop_all ;;
status) status ;;
env) cat "$DIR/stack.env" 2>/dev/null || die "no $DIR/stack.env: run '$0 start' first" ;;
*) usage ;;
esac
