#!/usr/bin/env bash
# Load benchmark of Dialtone with sipp, on loopback only, bounded in calls and time.
#
#   bench/sipp-bench.sh calls        1,000 calls with PCMA audio between two registered sipps,
#                                    then pages /v1/call-records?limit=500 and counts answered records
#   bench/sipp-bench.sh cps [RATE]   short calls at RATE calls/s (default 200) for 10 s: failed calls, achieved rate
#   bench/sipp-bench.sh concurrent [N]  N (default 500) simultaneous calls relaying RTP both ways:
#                                    RTP loss from the call records, server RSS per call
#
# Needs sipp (Debian package sip-tester), curl and python3. Results go to bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-calls}
arg=${2:-}

out=bench/results/$(date +%Y%m%d-%H%M%S)-$mode
mkdir -p "$out"
data=$(mktemp -d)
key=bench-admin-key
http=127.0.0.1:18480
sip=127.0.0.1:15460
api="http://$http/v1"
scen=interop/sipp
pcap=/usr/share/sip-tester/g711a.pcap

go build -o "$out/dialtone" ./cmd/dialtone
DIALTONE_ADMIN_KEY=$key "$out/dialtone" serve --data "$data" --http "$http" --sip "$sip" --domain bench.test \
  --rtp-ports 20000-39999 --log-level warn 2>"$out/server.log" &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; pkill -f "sipp.*$sip" 2>/dev/null || true; pkill -f "sipp -sf $scen/uas.xml" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT
for _ in $(seq 50); do curl -sf "http://$http/readyz" >/dev/null && break; sleep 0.1; done

auth=(-H "Authorization: Bearer $key")
curl -sf "${auth[@]}" --json '{"number":"1001","sip_password":"bench-caller-password"}' "$api/extensions" >/dev/null
curl -sf "${auth[@]}" --json '{"number":"1002","sip_password":"bench-callee-password","ring_timeout_seconds":60}' "$api/extensions" >/dev/null
printf 'SEQUENTIAL\n1001;\n' >"$out/caller.csv"
printf 'SEQUENTIAL\n1002;\n' >"$out/callee.csv"

sipp "$sip" -sf $scen/register.xml -inf "$out/callee.csv" -au 1002 -ap bench-callee-password -i 127.0.0.3 -p 25170 -m 1 -nostdin -timeout 10 >/dev/null
sipp "$sip" -sf $scen/register.xml -inf "$out/caller.csv" -au 1001 -ap bench-caller-password -i 127.0.0.2 -p 25180 -m 1 -nostdin -timeout 10 >/dev/null

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }

# run_calls TOTAL RATE LIMIT HOLD_MS SCENARIO_TIMEOUT
run_calls() {
  local total=$1 rate=$2 limit=$3 hold=$4 timeout=$5
  sipp -sf $scen/uas.xml -i 127.0.0.3 -p 25170 -mp 26000 -rtp_echo -m "$total" -l "$limit" -nostdin \
    -timeout "$timeout" -trace_stat -stf "$out/uas-stats.csv" >"$out/uas.log" 2>&1 &
  local uas=$!
  sleep 0.3
  local start=$(date +%s.%N)
  set +e
  sipp "$sip" -sf $scen/uac.xml -s 1002 -inf "$out/caller.csv" -au 1001 -ap bench-caller-password \
    -i 127.0.0.2 -p 25180 -mp 26100 -m "$total" -r "$rate" -l "$limit" -d "$hold" -nostdin -timeout "$timeout" \
    -trace_stat -stf "$out/uac-stats.csv" -trace_err -error_file "$out/uac-errors.log" >"$out/uac.log" 2>&1 &
  local uac=$!
  peak=0
  while kill -0 $uac 2>/dev/null; do
    r=$(rss_kb); [ "$r" -gt "$peak" ] && peak=$r
    sleep 0.5
  done
  wait $uac; uac_rc=$?
  wait $uas; uas_rc=$?
  set -e
  elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}')
  successful=$(grep -E "Successful call" "$out/uac.log" | tail -1 | awk '{print $(NF)}')
  failed=$(grep -E "Failed call" "$out/uac.log" | tail -1 | awk '{print $(NF)}')
  echo "sipp caller exit $uac_rc, callee exit $uas_rc; successful $successful, failed $failed; ${elapsed}s; peak RSS ${peak} kB"
}

records() {
  python3 - "$api" "$key" <<'PY'
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

udp_errors() { awk '/^Udp:/ {n++; if (n == 2) print "UDP receive-buffer errors " $6 ", in-errors " $4}' /proc/net/snmp; }
udp_errors >"$out/udp-before.txt"
base=$(rss_kb)
case "$mode" in
  calls)
    run_calls 1000 100 300 1000 120
    records
    ;;
  cps)
    rate=${arg:-200}
    run_calls $((rate * 10)) "$rate" 2000 0 60
    records
    ;;
  concurrent)
    n=${arg:-500}
    # Calls arrive at 100/s and hold 12 s, so all N overlap while the 8 s capture plays.
    run_calls "$n" 100 "$n" 12000 90
    echo "server RSS: idle ${base} kB, peak ${peak} kB, $(( (peak - base) / n )) kB per concurrent call"
    echo "kernel before: $(cat "$out/udp-before.txt"); after: $(udp_errors)"
    records
    ;;
  *) echo "unknown mode $mode"; exit 2 ;;
esac | tee "$out/summary.txt"
