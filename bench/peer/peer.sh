#!/usr/bin/env bash
# The benchmark's peer: Kamailio 5.6 (registrar, auth_db on db_text, dialog)
# plus rtpengine in userspace mode anchoring all media, on loopback addresses
# of their own. Used by bench/compare.sh; can be run alone.
#
#   bench/peer/peer.sh install            apt-get installs kamailio and rtpengine-daemon when missing (root)
#   bench/peer/peer.sh users DIR FIRST COUNT
#                                         writes the db_text tables (DIR/db) for users FIRST..FIRST+COUNT-1,
#                                         password "bench-pw-USER", realm bench.test (HA1 precomputed)
#   bench/peer/peer.sh start DIR          starts rtpengine and Kamailio (config, logs and pid files in DIR)
#   bench/peer/peer.sh pids DIR           prints the pids of every server process (Kamailio's and rtpengine)
#   bench/peer/peer.sh stop DIR           stops both
#
# Environment: PEER_IP (127.0.0.40), PEER_PORT (25860), PEER_CHILDREN (4 UDP workers: two per core),
# RTPENGINE_IP (127.0.0.41), RTPENGINE_NG_PORT (22222), RTPENGINE_PORTS (30000-39999),
# RTPENGINE_THREADS (2), PEER_SHM_MB (512).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
peer_ip=${PEER_IP:-127.0.0.40}
peer_port=${PEER_PORT:-25860}
children=${PEER_CHILDREN:-4}
rtp_ip=${RTPENGINE_IP:-127.0.0.41}
ng_port=${RTPENGINE_NG_PORT:-22222}
rtp_ports=${RTPENGINE_PORTS:-30000-39999}
rtp_threads=${RTPENGINE_THREADS:-2}
shm=${PEER_SHM_MB:-512}

install() {
  command -v kamailio >/dev/null && command -v rtpengine >/dev/null &&
    [ -e /usr/lib/x86_64-linux-gnu/kamailio/modules/rtpengine.so ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "peer: kamailio and rtpengine-daemon are missing; run as root or: apt-get install -y kamailio rtpengine-daemon" >&2
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # db_text, dialog and the rtpengine module ship in the kamailio package itself on Debian 12.
  apt-get install -y -qq kamailio rtpengine-daemon >/dev/null
}

users() {
  local dir=$1 first=$2 count=$3
  mkdir -p "$dir/db"
  printf 'table_name(str) table_version(int)\nsubscriber:7\n' >"$dir/db/version"
  python3 - "$dir/db/subscriber" "$first" "$count" <<'PY'
import hashlib, sys
path, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, "w") as f:
    f.write("id(int,auto) username(str) domain(str,null) password(str) ha1(str,null) ha1b(str,null)\n")
    for i in range(count):
        u = str(first + i)
        pw = "bench-pw-" + u
        ha1 = hashlib.md5(f"{u}:bench.test:{pw}".encode()).hexdigest()
        ha1b = hashlib.md5(f"{u}@bench.test:bench.test:{pw}".encode()).hexdigest()
        f.write(f"{i + 1}:{u}:bench.test:{pw}:{ha1}:{ha1b}\n")
PY
}

start() {
  local dir=$1
  install
  [ -s "$dir/db/subscriber" ] || { echo "peer: no users in $dir/db: run '$0 users $dir FIRST COUNT' first" >&2; return 1; }
  sed -e "s|@IP@|$peer_ip|g" -e "s|@PORT@|$peer_port|g" -e "s|@DB@|$dir/db|g" -e "s|@CHILDREN@|$children|g" \
    -e "s|@RTPENGINE_NG@|$rtp_ip:$ng_port|g" "$here/kamailio.cfg" >"$dir/kamailio.cfg"
  # --table=-1: no kernel forwarding table, every packet is relayed in userspace.
  setsid rtpengine --config-file=none --table=-1 --listen-cli="$rtp_ip:$((ng_port + 1))" --foreground --log-stderr --log-level=4 --interface="$rtp_ip" \
    --listen-ng="$rtp_ip:$ng_port" --port-min="${rtp_ports%-*}" --port-max="${rtp_ports#*-}" \
    --num-threads="$rtp_threads" --timeout=60 --delete-delay=0 \
    >"$dir/rtpengine.log" 2>&1 </dev/null &
  echo $! >"$dir/rtpengine.pid"
  # Kamailio pings rtpengine as it starts and would leave it disabled for a minute.
  for _ in $(seq 50); do
    ss -Hlun "src $rtp_ip:$ng_port" | grep -q . && break
    sleep 0.1
  done
  setsid kamailio -f "$dir/kamailio.cfg" -DD -E -m "$shm" -M 16 -Y "$dir" -P "$dir/kamailio.daemon.pid" \
    >"$dir/kamailio.log" 2>&1 </dev/null &
  echo $! >"$dir/kamailio.pid"
  for _ in $(seq 100); do
    if ss -Hlun "src $rtp_ip:$ng_port" | grep -q . && ss -Hlun "src $peer_ip:$peer_port" | grep -q . &&
      [ "$(pids "$dir" | wc -w)" -gt "$children" ]; then
      return 0
    fi
    kill -0 "$(cat "$dir/kamailio.pid")" 2>/dev/null && kill -0 "$(cat "$dir/rtpengine.pid")" 2>/dev/null || break
    sleep 0.1
  done
  echo "peer: did not start; see $dir/kamailio.log and $dir/rtpengine.log" >&2
  tail -n 5 "$dir/kamailio.log" "$dir/rtpengine.log" >&2
  stop "$dir"
  return 1
}

# pids DIR: Kamailio's main process and its children, then rtpengine.
pids() {
  local dir=$1 k r
  k=$(cat "$dir/kamailio.pid" 2>/dev/null || true)
  r=$(cat "$dir/rtpengine.pid" 2>/dev/null || true)
  [ -n "$k" ] && kill -0 "$k" 2>/dev/null && echo "$k" $(pgrep -P "$k" || true)
  [ -n "$r" ] && kill -0 "$r" 2>/dev/null && echo "$r"
  return 0
}

stop() {
  local dir=$1 f p
  for f in kamailio rtpengine; do
    p=$(cat "$dir/$f.pid" 2>/dev/null || true)
    [ -n "$p" ] || continue
    # Each runs in a session (and process group) of its own: stop the group.
    kill -TERM -- "-$p" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$p" 2>/dev/null || true
    rm -f "$dir/$f.pid"
  done
}

cmd=${1:-}
shift || true
case "$cmd" in
  install) install ;;
  users) users "$@" ;;
  start) start "$@" ;;
  pids) pids "$@" ;;
  stop) stop "$@" ;;
  *) sed -n '2,17p' "$0" >&2; exit 2 ;;
esac
