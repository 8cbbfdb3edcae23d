#!/usr/bin/env bash
# The compose file end to end on this machine, as root, from a fresh clone:
#   sudo bash docker/e2e.sh
# Installs what it needs from Debian's packages if missing (docker.io, docker-compose,
# debootstrap; Maven and a JDK to build the jars), starts dockerd if none runs (and stops it
# after), builds the jars on the host and the images without a registry (base-image.sh,
# Dockerfile.prebuilt, the `diloco broker` of docker-compose.local.yml), brings up the broker,
# the topics, the optimizer, the reducer, 3 workers and Prometheus with compose, waits for
# committed rounds, crashes the reducer (SIGKILL of its process: its restart policy brings it
# back) and `docker kill`s a worker (then starts it again, as an operator would: Docker does not
# restart a container killed by hand), waits for the run to go on with all three, replays the
# run against the broker, queries Prometheus, and tears it all down (down -v), also on failure.
# Every wait is bounded. Settings: E2E_ROUNDS_BEFORE (3), E2E_ROUNDS_AFTER (3),
# E2E_INNER_STEPS (10), E2E_WAIT (300 s, the bound of each wait).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
rounds_before=${E2E_ROUNDS_BEFORE:-3}
rounds_after=${E2E_ROUNDS_AFTER:-3}
bound=${E2E_WAIT:-300}
project=diloco-e2e-$$
export RUN_ID=e2e WORKERS=3 INNER_STEPS=${E2E_INNER_STEPS:-10}
export PROMETHEUS_IMAGE=diloco-prometheus:bookworm PROMETHEUS_PORT=${E2E_PROMETHEUS_PORT:-19090}
t0=$(date +%s)

say() { printf '[e2e %4ds] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }
fail() { say "FAILED: $*"; exit 1; }
compose() {
  docker-compose -p "$project" -f "$here/docker-compose.yml" -f "$here/docker-compose.local.yml" \
    --profile monitoring "$@"
}

[ "$(id -u)" = 0 ] || { echo "e2e.sh: run it as root (it installs packages, starts dockerd)" >&2
  exit 2; }

need=()
command -v dockerd > /dev/null || need+=(docker.io)
command -v docker-compose > /dev/null || need+=(docker-compose)
command -v debootstrap > /dev/null || need+=(debootstrap)
command -v mvn > /dev/null || need+=(maven)
command -v javac > /dev/null || need+=(openjdk-17-jdk-headless)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]} from Debian's packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" > /dev/null
fi

our_dockerd=
work=$(mktemp -d /tmp/diloco-e2e.XXXXXX)
# A table's rules as iptables-restore takes them; an empty table when it has none yet.
save_table() {
  local out
  out=$(iptables-save -t "$1" 2> /dev/null || true)
  if printf '%s\n' "$out" | grep "^\*$1" > /dev/null; then
    printf '%s\n' "$out"
  else
    printf '*%s\n' "$1"
    case "$1" in
      filter) printf ':%s ACCEPT [0:0]\n' INPUT FORWARD OUTPUT ;;
      nat) printf ':%s ACCEPT [0:0]\n' PREROUTING INPUT OUTPUT POSTROUTING ;;
    esac
    echo COMMIT
  fi
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "$rc" -ne 0 ] && docker info > /dev/null 2>&1; then
    say "the services' last lines:"
    compose logs --no-color --tail 15 2> /dev/null || true
  fi
  compose down -v --remove-orphans --timeout 10 > /dev/null 2>&1 || true
  # The diloco image this run rebuilt stays as diloco:latest (and the base images, slow to
  # build, for the next run); the one it replaced would stay untagged, a few hundred MB a run.
  docker image prune -f --filter label=dev.diloco.image > /dev/null 2>&1 || true
  if [ -n "$our_dockerd" ]; then
    kill "$our_dockerd" 2> /dev/null || true
    wait "$our_dockerd" 2> /dev/null || true
    # What dockerd leaves behind it: its bridge and its firewall rules.
    ip link delete docker0 2> /dev/null || true
    [ -s "$work/iptables" ] && iptables-restore < "$work/iptables" 2> /dev/null || true
    say "stopped the dockerd it started, removed its bridge and firewall rules"
  fi
  [ "$rc" -ne 0 ] && [ -s "$work/dockerd.log" ] && cp "$work/dockerd.log" /tmp/diloco-e2e-dockerd.log \
    && say "dockerd's log: /tmp/diloco-e2e-dockerd.log"
  rm -rf "$work"
  local verdict="FAILED ($rc)"
  [ "$rc" -eq 0 ] && verdict=PASSED
  [ "$rc" -eq 77 ] && verdict=SKIPPED
  say "torn down (compose down -v); $verdict in $(( $(date +%s) - t0 )) s"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! docker info > /dev/null 2>&1; then
  if command -v iptables-save > /dev/null; then
    { save_table filter; save_table nat; } > "$work/iptables"
  fi
  dockerd > "$work/dockerd.log" 2>&1 &
  our_dockerd=$!
  for _ in $(seq 60); do docker info > /dev/null 2>&1 && break; sleep 1; done
  if ! docker info > /dev/null 2>&1; then
    # A machine whose kernel or privileges run no Docker engine: nothing of the project's
    # was tried, which is not a failure of it. Exit 77 says so (.ci/run reports it).
    say "SKIPPED: dockerd does not run on this machine; its last lines:"
    tail -5 "$work/dockerd.log" | sed 's/^/    /'
    exit 77
  fi
  say "started dockerd (pid $our_dockerd)"
fi

say "building the jars (mvn package -pl launcher -am)"
(cd "$repo" && mvn -B -ntp -DskipTests package -pl launcher -am > "$work/mvn.log" 2>&1) \
  || { tail -30 "$work/mvn.log"; fail "the jars did not build"; }
"$here/base-image.sh"
"$here/base-image.sh" --name "$PROMETHEUS_IMAGE" --packages prometheus
say "building the diloco image"
compose build -q
compose config -q

# The newest round the optimizer's log says it committed (-1 before round 0).
committed() {
  compose logs --no-color optimizer 2> /dev/null \
    | sed -n 's/.*committed round \([0-9][0-9]*\) .*/\1/p' | sort -n | tail -1 | grep . || echo -1
}
# Waits (bounded) for round $1 to be committed, saying each round as it comes.
said=-1
await_round() {
  local target=$1 deadline=$(( $(date +%s) + bound )) now
  while :; do
    now=$(committed)
    if [ "$now" -gt "$said" ]; then say "committed round $now"; said=$now; fi
    [ "$now" -ge "$target" ] && return 0
    [ "$(date +%s)" -lt "$deadline" ] || fail "round $target not committed within ${bound}s"
    sleep 2
  done
}
state() { docker inspect -f '{{.State.Running}} {{.RestartCount}}' "$1"; }

say "up: broker, topics, optimizer, reducer, 3 workers, prometheus (project $project)"
compose up -d --scale worker=3 kafka topics optimizer reducer worker prometheus 2>&1 \
  | sed 's/^/    /'
await_round "$rounds_before"

reducer=$(compose ps -q reducer)
pid=$(docker inspect -f '{{.State.Pid}}' "$reducer")
kill -9 "$pid"
say "crashed the reducer: SIGKILL to its process (pid $pid on this host)"
deadline=$(( $(date +%s) + bound ))
until [ "$(state "$reducer")" = "true 1" ]; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "the reducer did not come back: $(state "$reducer")"
  sleep 1
done
say "the reducer came back (its restart policy; restarts: 1)"

worker=$(compose ps -q worker | sed -n 1p)
name=$(docker inspect -f '{{.Config.Hostname}}' "$worker")
docker kill "$worker" > /dev/null
say "docker kill of worker $name: $(state "$worker" | cut -d' ' -f1 | sed 's/false/stopped/')"
docker start "$worker" > /dev/null
say "worker $name started again (docker start: same container, same state directory)"
target=$(( $(committed) + rounds_after ))
await_round "$target"
compose logs --no-color worker 2> /dev/null | grep -E "$name.*(resumes from its state|published \
its saved|joining it|committed already)" | tail -2 | sed 's/^/    /' || true

say "replay against the broker (diloco replay, in a container on the compose network)"
set +e
compose run --rm --no-deps -T optimizer replay --run "$RUN_ID" --bootstrap-servers kafka:9092 \
  > "$work/replay.txt" 2>&1
replayed=$?
set -e
grep -v "^Creating" "$work/replay.txt" | sed 's/^/    /'
verdict=$(grep -c "verified bit for bit" "$work/replay.txt" || true)
last=$(awk '$1 ~ /^[0-9]+$/ { r = $0 } END { print r }' "$work/replay.txt")
[ "$replayed" -eq 0 ] && [ "$verdict" -eq 1 ] || fail "the replay did not verify (exit $replayed)"
contributors=$(echo "$last" | awk '{ print $3 }' | tr ',' '\n' | grep -c . || true)
[ "$contributors" -eq 3 ] || fail "the last replayed round has $contributors contributors, not 3"
case ",$(echo "$last" | awk '{ print $3 }')," in
  *",$name-0,"*) ;;
  *) fail "worker $name-0 (killed and started again) is not in the last replayed round" ;;
esac
say "replay: every round verified; the last one has all 3 workers, $name-0 among them"

# Prometheus scrapes every service; its query API has the committed-rounds series, and each
# expression of the Grafana dashboard is one it accepts.
query() { compose exec -T prometheus promtool query instant http://localhost:9090 "$1"; }
deadline=$(( $(date +%s) + 60 ))
series=
until [ -n "$series" ]; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "Prometheus has no diloco_rounds_committed_total"
  sleep 2
  series=$(query 'diloco_rounds_committed_total{outcome="stepped"}' 2> /dev/null || true)
done
echo "$series" | sed 's/^/    /'
up=$(query 'sum(up{job=~"diloco.*"})' | sed -n 's/.*=> \([0-9]*\) .*/\1/p')
[ "$up" = 5 ] || fail "Prometheus scrapes $up of 5 services (optimizer, reducer, 3 workers)"
sed -n 's/.*"expr": "\(.*\)",$/\1/p' "$here/grafana/dashboards/diloco.json" | sed 's/\\"/"/g' \
  | while read -r expr; do query "$expr" > /dev/null || fail "Prometheus refuses: $expr"; done
say "Prometheus: 5 of 5 services up, rounds committed, every dashboard query accepted"
