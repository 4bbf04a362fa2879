# Helpers shared by the load scripts under bench/. Source it from the repository root:
#
#   . bench/lib.sh
#
# The functions read these variables, set by the script that sources this file:
#   key   admin API key (DIALTONE_ADMIN_KEY of the server)
#   http  host:port of the REST API
#   sip   host:port of SIP
#   out   results directory of the run
#   pid   process id of the server (set by start_dialtone)

scen=interop/sipp
pcap=/usr/share/sip-tester/g711a.pcap

# build_dialtone BINARY: builds the server from the tree.
build_dialtone() { go build -o "$1" ./cmd/dialtone; }

# start_dialtone BINARY DATA_DIR LOG [FLAG...]: starts the server on $http and $sip, sets pid
# and waits until /readyz answers (10 s at most).
start_dialtone() {
  local bin=$1 data=$2 log=$3
  shift 3
  DIALTONE_ADMIN_KEY=$key "$bin" serve --data "$data" --http "$http" --sip "$sip" "$@" 2>"$log" &
  pid=$!
  wait_ready
}

# wait_ready: waits until the server answers /readyz (10 s at most); fails if it never does.
wait_ready() {
  for _ in $(seq 100); do
    curl -sf "http://$http/readyz" >/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "dialtone did not become ready on $http" >&2
  return 1
}

# alive PID: whether PID runs (a process that exited but is not reaped yet does not).
alive() { [ -e "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

# terminate PID SECS: asks PID to end (SIGTERM: a server drains its calls), gives it SECS, then
# kills it. Prints the seconds it took and how it ended (exited or killed).
terminate() {
  local t0 how=exited
  t0=$(date +%s.%N)
  kill "$1" 2>/dev/null || true
  for _ in $(seq $(($2 * 10))); do alive "$1" || break; sleep 0.1; done
  if alive "$1"; then
    kill -9 "$1" 2>/dev/null || true
    how=killed
  fi
  echo "$(awk -v s="$t0" -v e="$(date +%s.%N)" 'BEGIN{printf "%.2f", e-s}') $how"
}

# stop_process PID: terminates PID within 10 s and reaps it when it is a child of this shell.
# Nothing when PID is empty.
stop_process() {
  [ -n "$1" ] || return 0
  terminate "$1" 10 >/dev/null
  wait "$1" 2>/dev/null || true
}

# stop_started: signals every process of the array started (a run's helpers: sipps, monitors).
stop_started() {
  local p
  for p in "${started[@]}"; do kill "$p" 2>/dev/null || true; done
}

# api METHOD PATH [JSON]: one admin request to /v1, body on stdout.
api() {
  local method=$1 path=$2
  if [ $# -gt 2 ]; then
    curl -sf -X "$method" -H "Authorization: Bearer $key" --json "$3" "http://$http/v1$path"
  else
    curl -sf -X "$method" -H "Authorization: Bearer $key" "http://$http/v1$path"
  fi
}

# add_extension NUMBER PASSWORD [EXTRA_JSON_FIELDS]: creates an extension; writes $out/NUMBER.csv,
# the sipp -inf file whose field0 is the number.
add_extension() {
  api POST /extensions "{\"number\":\"$1\",\"sip_password\":\"$2\"${3:+,$3}}" >/dev/null
  printf 'SEQUENTIAL\n%s;\n' "$1" >"$out/$1.csv"
}

# sipp_register NUMBER PASSWORD IP PORT [SIPP_FLAG...]: one digest REGISTER by sipp from IP:PORT.
sipp_register() {
  local number=$1 password=$2 ip=$3 port=$4
  shift 4
  sipp "$sip" -sf $scen/register.xml -inf "$out/$number.csv" -au "$number" -ap "$password" -i "$ip" -p "$port" \
    -m 1 -nostdin -timeout 10 "$@" >/dev/null
}

# rss_kb [PID]: resident set size of the server (or PID) in kB; hwm_kb the peak (VmHWM).
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/${1:-$pid}/status"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/${1:-$pid}/status"; }

# cpu_ticks [PID]: utime+stime of the server (or PID) in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/${1:-$pid}/stat"; }

# fd_count [PID]: open file descriptors of the server (or PID).
fd_count() { ls "/proc/${1:-$pid}/fd" 2>/dev/null | wc -l; }

# udp_errors: the kernel's UDP receive-buffer and input error counters (whole host).
udp_errors() { awk '/^Udp:/ {n++; if (n == 2) print "UDP receive-buffer errors " $6 ", in-errors " $4}' /proc/net/snmp; }

# udp_socket_drops PORT: datagrams the kernel dropped on the UDP sockets bound to PORT (receive
# buffer full), from /proc/net/udp; sockets that are gone are not counted.
udp_socket_drops() {
  awk -v p="$(printf ':%04X' "$1")" 'NR > 1 && substr($2, length($2) - 4) == p {d += $NF} END {print d + 0}' /proc/net/udp
}

# sipp_total LOG PATTERN: the last number on the last line of sipp's screen output matching PATTERN,
# such as "Successful call" or "Failed call".
sipp_total() { grep -E "$2" "$1" | tail -1 | awk '{print $(NF)}'; }

# call_records: pages /v1/call-records and prints counts, RTP loss and jitter.
call_records() {
  python3 - "http://$http/v1" "$key" <<'PY'
import json, sys, urllib.request
api, key = sys.argv[1], sys.argv[2]
cursor, pages, items = "", 0, []
while True:
    req = urllib.request.Request(f"{api}/call-records?limit=500&cursor={cursor}", headers={"Authorization": f"Bearer {key}"})
    page = json.load(urllib.request.urlopen(req))
    pages += 1
    items += page["items"]
    cursor = page.get("next_cursor", "")
    if not cursor:
        break
ids = {i["id"] for i in items}
answered = sum(1 for i in items if i["disposition"] == "answered")
lost = exp = 0
per = {"caller": [0, 0], "callee": [0, 0]}
for i in items:
    for leg in ("caller", "callee"):
        q = i["media"][leg]
        lost += q["lost"]; exp += q["packets_in"] + q["lost"]
        per[leg][0] += q["lost"]; per[leg][1] += q["packets_in"] + q["lost"]
jit = max((i["media"][l]["jitter_ms"] for i in items for l in ("caller", "callee")), default=0)
print(f"call records: {len(items)} in {pages} pages, {len(ids)} distinct, {answered} answered; "
      f"RTP packets received {exp - lost}, lost {lost} ({100.0 * lost / max(exp, 1):.4f}%); worst jitter {jit:.2f} ms")
print("loss by leg: " + ", ".join(f"{leg} {l} of {e} ({100.0 * l / max(e, 1):.4f}%)" for leg, (l, e) in per.items()))
PY
}
