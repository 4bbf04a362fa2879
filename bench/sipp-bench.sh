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
key=bench-admin-key-0123456789abcdef
http=127.0.0.1:18480
sip=127.0.0.1:15460
. bench/lib.sh

build_dialtone "$out/dialtone"
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; pkill -f "sipp.*$sip" 2>/dev/null || true; pkill -f "sipp -sf $scen/uas.xml" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT
start_dialtone "$out/dialtone" "$data" "$out/server.log" --domain bench.test --rtp-ports 20000-39999 --log-level warn

add_extension 1001 bench-caller-password
add_extension 1002 bench-callee-password '"ring_timeout_seconds":60'

sipp_register 1002 bench-callee-password 127.0.0.3 25170
sipp_register 1001 bench-caller-password 127.0.0.2 25180

# run_calls TOTAL RATE LIMIT HOLD_MS SCENARIO_TIMEOUT
run_calls() {
  local total=$1 rate=$2 limit=$3 hold=$4 timeout=$5
  sipp -sf $scen/uas.xml -i 127.0.0.3 -p 25170 -mp 26000 -rtp_echo -m "$total" -l "$limit" -nostdin \
    -timeout "$timeout" -trace_stat -stf "$out/uas-stats.csv" >"$out/uas.log" 2>&1 &
  local uas=$!
  sleep 0.3
  local start=$(date +%s.%N)
  set +e
  sipp "$sip" -sf $scen/uac.xml -s 1002 -inf "$out/1001.csv" -au 1001 -ap bench-caller-password \
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
  successful=$(sipp_total "$out/uac.log" "Successful call")
  failed=$(sipp_total "$out/uac.log" "Failed call")
  echo "sipp caller exit $uac_rc, callee exit $uas_rc; successful $successful, failed $failed; ${elapsed}s; peak RSS ${peak} kB"
}

udp_errors >"$out/udp-before.txt"
base=$(rss_kb)
case "$mode" in
  calls)
    run_calls 1000 100 300 1000 120
    call_records
    ;;
  cps)
    rate=${arg:-200}
    run_calls $((rate * 10)) "$rate" 2000 0 60
    call_records
    ;;
  concurrent)
    n=${arg:-500}
    # Calls arrive at 100/s and hold 12 s, so all N overlap while the 8 s capture plays.
    run_calls "$n" 100 "$n" 12000 90
    echo "server RSS: idle ${base} kB, peak ${peak} kB, $(( (peak - base) / n )) kB per concurrent call"
    echo "kernel before: $(cat "$out/udp-before.txt"); after: $(udp_errors)"
    call_records
    ;;
  *) echo "unknown mode $mode"; exit 2 ;;
esac | tee "$out/summary.txt"
