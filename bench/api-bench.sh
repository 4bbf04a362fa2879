#!/usr/bin/env bash
# API reads under call load, on loopback only, bounded in time (about 2.5 minutes at the defaults).
# The server is built from the tree and started on an empty data dir (SIP 127.0.0.80:25960, API
# 127.0.0.80:18960, profiles on 127.0.0.80:18961, RTP 41000-45999). Extensions 1001 and 1002 are
# provisioned, sipp on 127.0.0.82 registers as 1002 and answers (echoing RTP), and sipp on
# 127.0.0.81 calls it as 1001 with the scenario of `bench/sipp-bench.sh cps` (digest INVITE with
# a PCMA offer, BYE), by default without its audio (MEDIA=sdp: offer and answer only; MEDIA=audio
# plays the PCMA capture, which the server relays and the callee echoes). Then:
#
#   1. prefill: PREFILL (6000) calls at RATE calls/s without hold, so the call records list is
#      thousands of rows deep before it is read;
#   2. load: calls at RATE (200) calls/s, each held HOLD_MS (2000), for DURATION + 15 s; 3 s in,
#      once the live calls have reached their steady count, bench/apiload sends API_RATE (2000)
#      GETs/s for DURATION (30) s, taken in turn from PATHS (call records: the default page,
#      a number filter with a limit, a direction+disposition filter; and the live calls list).
#
# Reports (summary.txt): API p50/p90/p99/max latency overall and per path (measured from each
# request's due time, so stalls are not hidden), errors by status, reads/s reached; calls created,
# successful and failed during the API window and over the run, call rate reached; CPU (% of one
# core, utime+stime from /proc) of the server, the sipps and apiload over the window, and the
# host's; server RSS; call records in the database. Ends with "verdict: PASS|FAIL (why)" against
# p99 < P99_MS (20) ms, no API errors, >= 99% of API_RATE, no failed calls, >= 98% of RATE.
#
# Tunables (environment): DURATION (30), RATE (200; 0 for the API reads alone), HOLD_MS (2000), API_RATE (2000), PREFILL
# (6000) and PREFILL_RATE (200), MEDIA (sdp or audio), PATHS (comma-separated; a path named twice is read twice as
# often), WORKERS (256, apiload's concurrency), P99_MS (20), BIN (a server binary to run
# instead of building the tree), PROFILE=1 (a 20 s CPU profile of the server during the window,
# cpu.pprof, and a heap profile after it). Needs sipp (Debian package sip-tester), curl, python3
# and go. Results go to bench/results/<time>-api/. Run it alone: it loads the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${DURATION:-30}
rate=${RATE:-200}
prefill_rate=${PREFILL_RATE:-200}
hold_ms=${HOLD_MS:-2000}
api_rate=${API_RATE:-2000}
prefill=${PREFILL:-6000}
workers=${WORKERS:-256}
p99_ms=${P99_MS:-20}
media=${MEDIA:-sdp}
case "$media" in audio | sdp) ;; *) echo "MEDIA is audio or sdp" >&2; exit 2 ;; esac
paths=${PATHS:-/v1/call-records,/v1/call-records?limit=20&number=1001,/v1/call-records?limit=100&direction=internal&disposition=answered,/v1/calls}
warmup=3

out=bench/results/$(date +%Y%m%d-%H%M%S)-api
mkdir -p "$out"
key=bench-api-admin-key-0123456789abcdef
http=127.0.0.80:18960
sip=127.0.0.80:25960
pprof=127.0.0.80:18961
. bench/lib.sh
caller_ip=127.0.0.81 caller_port=25961 caller_mp=46100
callee_ip=127.0.0.82 callee_port=25962 callee_mp=46000
caller_pw=bench-api-caller-password callee_pw=bench-api-callee-password
tick=$(getconf CLK_TCK)

pid=
started=() # helper processes, stopped at exit
cleanup() {
  local p
  stop_started
  stop_process "$pid"
  # Only the helpers: a bare wait would also wait for the summary's tee, which ends with the script.
  for p in "${started[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$out/data"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# foreign_load: other load generators or servers running on the host (not this run's), which
# would share the CPU with it: their command names, or nothing.
foreign_load() {
  pgrep -f 'sipp|rtpgen|kamailio|rtpengine|dialtone serve' | grep -vxF -e "$pid" -e "${uac:-x}" -e "${uas:-x}" |
    xargs -r ps -o comm= -p 2>/dev/null | sort | uniq -c | tr -s ' \n' ' ' || true
}

# proc_ticks FILE: every process's pid, utime+stime and name, one a line, into FILE.
proc_ticks() {
  python3 - "$1" <<'PY'
import os, sys
with open(sys.argv[1], "w") as out:
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            s = open(f"/proc/{pid}/stat").read()
        except OSError:
            continue
        name = s[s.index("(") + 1:s.rindex(")")]
        f = s[s.rindex(")") + 2:].split()
        out.write(f"{pid} {int(f[11]) + int(f[12])} {name}\n")
PY
}

# host_ticks: busy,total clock ticks of all CPUs (/proc/stat).
host_ticks() { awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6 "," t}' /proc/stat; }
# stat_col FILE COLUMN: the last value of a column of sipp's -trace_stat file.
stat_col() {
  [ -f "$1" ] || { echo 0; return; }
  awk -F';' -v name="$2" 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == name) c = i; next} c {v = $c} END {print v + 0}' "$1"
}
# stat_time FILE: the time (unix seconds) of the last line of sipp's -trace_stat file.
stat_time() {
  [ -f "$1" ] || { echo 0; return; }
  awk -F';' 'NR > 1 {n = split($3, t, "\t"); v = t[n]} END {printf "%.6f\n", v}' "$1"
}

# record_count: call records in the database (paged by 500).
record_count() {
  python3 - "http://$http/v1" "$key" <<'PY'
import json, sys, urllib.request
api, key = sys.argv[1], sys.argv[2]
cursor, n = "", 0
while True:
    req = urllib.request.Request(f"{api}/call-records?limit=500&cursor={cursor}", headers={"Authorization": f"Bearer {key}"})
    page = json.load(urllib.request.urlopen(req))
    n += len(page["items"])
    cursor = page.get("next_cursor", "")
    if not cursor:
        break
print(n)
PY
}

# calls PHASE TOTAL RATE HOLD_MS: starts the callee and the caller sipps for TOTAL calls in the
# background; sets uas and uac to their pids and calls_by to when they should be done.
calls() {
  local phase=$1 total=$2 r=$3 hold=$4 limit=$(($3 * ($4 / 1000 + 2) * 2 + 200))
  calls_by=$(($(date +%s) + total / r + hold / 1000 + 30))
  sipp -sf $scen/uas.xml -i $callee_ip -p $callee_port -mp $callee_mp -rtp_echo -m "$total" \
    -l "$limit" -nostdin -timeout $((total / r + 80)) -trace_stat -fd 1 -stf "$out/$phase-uas-stats.csv" >"$out/$phase-uas.log" 2>&1 &
  uas=$!
  started+=("$uas")
  sleep 0.3
  sipp "$sip" -sf "$uac_xml" -s 1002 -inf "$out/1001.csv" -au 1001 -ap $caller_pw \
    -i $caller_ip -p $caller_port -mp $caller_mp -m "$total" -r "$r" -l "$limit" -d "$hold" -nostdin \
    -timeout $((total / r + 80)) -trace_stat -fd 1 -stf "$out/$phase-uac-stats.csv" \
    -trace_err -error_file "$out/$phase-uac-errors.log" >"$out/$phase-uac.log" 2>&1 &
  uac=$!
  started+=("$uac")
}

# wait_calls PHASE: waits for both sipps (stopping them at calls_by: a call the server gave up on
# can leave sipp waiting for ever); prints their totals.
wait_calls() {
  local phase=$1 rc_uac rc_uas
  while kill -0 "$uac" 2>/dev/null || kill -0 "$uas" 2>/dev/null; do
    if [ "$(date +%s)" -ge "$calls_by" ]; then
      echo "$phase: sipp still running at its deadline: stopped"
      kill "$uac" "$uas" 2>/dev/null || true
      break
    fi
    sleep 0.5
  done
  set +e
  wait "$uac"; rc_uac=$?
  wait "$uas"; rc_uas=$?
  set -e
  echo "$phase: sipp caller exit $rc_uac, callee exit $rc_uas; created $(stat_col "$out/$phase-uac-stats.csv" TotalCallCreated)," \
    "successful $(stat_col "$out/$phase-uac-stats.csv" 'SuccessfulCall(C)'), failed $(stat_col "$out/$phase-uac-stats.csv" 'FailedCall(C)')"
}

# The caller's scenario: bench/sipp-bench.sh's (digest INVITE, PCMA from a capture, BYE); with
# MEDIA=sdp the same without the audio (offer and answer only).
uac_xml=$scen/uac.xml
if [ "$media" = sdp ]; then
  uac_xml=$out/uac-sdp.xml
  python3 - "$scen/uac.xml" >"$uac_xml" <<'PY'
import re, sys
print(re.sub(r"\s*<nop>\s*<action>\s*<exec play_pcap_audio=[^>]*>\s*</action>\s*</nop>", "", open(sys.argv[1]).read()), end="")
PY
  grep -q play_pcap_audio "$uac_xml" && { echo "could not strip the audio from $scen/uac.xml" >&2; exit 1; }
fi

if [ -n "${BIN:-}" ]; then cp "$BIN" "$out/dialtone"; else build_dialtone "$out/dialtone"; fi
go build -o "$out/apiload" ./bench/apiload
start_dialtone "$out/dialtone" "$out/data" "$out/server.log" --domain bench.test --rtp-ports 41000-45999 \
  --log-level warn --pprof "$pprof"
started+=("$pid")
api POST /security/allowlist '{"cidr":"127.0.0.80/29","description":"bench load generators"}' >/dev/null
add_extension 1001 $caller_pw
add_extension 1002 $callee_pw '"ring_timeout_seconds":60'
sipp_register 1002 $callee_pw $callee_ip $callee_port
sipp_register 1001 $caller_pw $caller_ip $caller_port

# Everything from here on is also the summary.
exec > >(tee "$out/summary.txt") 2>&1
echo "server pid $pid, idle RSS $(rss_kb) kB; results in $out"
if [ "$prefill" -gt 0 ]; then
  echo "prefill: $prefill calls at $prefill_rate/s, no hold"
  calls prefill "$prefill" "$prefill_rate" 0
  wait_calls prefill
fi
records0=$(record_count)
echo "call records before the load: $records0"

# The calls outlast apiload, whose window is DURATION plus at most its 10 s drain.
total=$((rate * (duration + warmup + 12)))
echo "load: $total calls at $rate/s (media: $media), each held ${hold_ms} ms; $api_rate API reads/s for ${duration}s from ${warmup}s in"
uac= uas=
[ "$rate" -gt 0 ] && calls load "$total" "$rate" "$hold_ms"
sleep "$warmup"
created0=$(stat_col "$out/load-uac-stats.csv" TotalCallCreated)
stat0=$(stat_time "$out/load-uac-stats.csv")
failed0=$(stat_col "$out/load-uac-stats.csv" 'FailedCall(C)')
live0=$(stat_col "$out/load-uac-stats.csv" CurrentCall)
foreign0=$(foreign_load)
proc_ticks "$out/procs0.txt"
c0=$(cpu_ticks); u0=$(cpu_ticks "${uac:-$$}"); s0=$(cpu_ticks "${uas:-$$}"); h0=$(host_ticks); t0=$(date +%s.%N)
if [ "${PROFILE:-0}" = 1 ]; then
  curl -sf -o "$out/cpu.pprof" "http://$pprof/debug/pprof/profile?seconds=$((duration < 22 ? duration - 2 : 20))" &
  started+=("$!")
fi
"$out/apiload" -base "http://$http" -key "$key" -rate "$api_rate" -duration "${duration}s" -workers "$workers" \
  -paths "$paths" -json "$out/apiload.json" 2>"$out/apiload.txt" || echo "apiload exit $?"
c1=$(cpu_ticks); u1=$(cpu_ticks "${uac:-$$}" 2>/dev/null || echo "$u0"); s1=$(cpu_ticks "${uas:-$$}" 2>/dev/null || echo "$s0")
h1=$(host_ticks); t1=$(date +%s.%N)
proc_ticks "$out/procs1.txt"
foreign1=$(foreign_load)
created1=$(stat_col "$out/load-uac-stats.csv" TotalCallCreated)
stat1=$(stat_time "$out/load-uac-stats.csv")
failed1=$(stat_col "$out/load-uac-stats.csv" 'FailedCall(C)')
live1=$(stat_col "$out/load-uac-stats.csv" CurrentCall)
rss=$(rss_kb)
if [ "${PROFILE:-0}" = 1 ]; then
  wait "${started[-1]}" || true
  curl -sf -o "$out/heap.pprof" "http://$pprof/debug/pprof/heap" || true
fi
[ "$rate" -gt 0 ] && wait_calls load
sleep 1
records1=$(record_count)
cat "$out/apiload.txt"
python3 - "$out/apiload.json" "$api_rate" "$p99_ms" "$rate" "$created0" "$created1" "$failed0" "$failed1" \
  "$(stat_col "$out/load-uac-stats.csv" 'FailedCall(C)')" "$(stat_col "$out/load-uac-stats.csv" TotalCallCreated)" \
  "$c0" "$c1" "$u0" "$u1" "$s0" "$s1" "$h0" "$h1" "$t0" "$t1" "$tick" "$live0" "$live1" "$rss" "$records0" "$records1" \
  "$out/procs0.txt" "$out/procs1.txt" "$pid ${uac:-} ${uas:-}" "$stat0" "$stat1" <<'PY'
import json, sys
a = sys.argv
rep = json.load(open(a[1]))
api_rate, p99_max, rate = float(a[2]), float(a[3]), float(a[4])
created0, created1, failed0, failed1, failed_all, created_all = (int(x) for x in a[5:11])
c0, c1, u0, u1, s0, s1 = (int(x) for x in a[11:17])
(hb0, ht0), (hb1, ht1) = (tuple(map(int, x.split(","))) for x in a[17:19])
t0, t1, tick = float(a[19]), float(a[20]), int(a[21])
live0, live1, rss, rec0, rec1 = (int(x) for x in a[22:27])
secs = t1 - t0
cpu = lambda d: 100.0 * d / tick / secs
o = rep["overall"]["latency_ms"]
errs = rep["errors"]
# Calls created between the two sipp statistics lines read (one a second), by their own times.
stat0, stat1 = float(a[30]), float(a[31])
call_rate = (created1 - created0) / (stat1 - stat0) if stat1 > stat0 else 0.0
print(f"API: {rep['planned']} reads planned, {rep['sent']} sent, {rep['ok']} ok, {errs} errors; {rep['ok_rate']:.1f} ok reads/s "
      f"(target {api_rate:.0f}); latency p50 {o['p50']:.2f} ms, p90 {o['p90']:.2f} ms, p99 {o['p99']:.2f} ms, max {o['max']:.2f} ms")
for p in rep["paths"]:
    l = p["latency_ms"]
    print(f"  {p['path']}: p50 {l['p50']:.2f} p99 {l['p99']:.2f} max {l['max']:.2f} ms, {p['bytes_mean']} bytes, errors {p.get('errors') or 0}")
print(f"calls in the API window: {created1 - created0} created ({call_rate:.1f}/s, target {rate:.0f}), "
      f"{failed1 - failed0} failed; live calls {live0} -> {live1}; whole load phase: {created_all} created, {failed_all} failed")
print(f"CPU over {secs:.1f} s (% of one core): server {cpu(c1 - c0):.0f}%, sipp caller {cpu(u1 - u0):.0f}%, "
      f"sipp callee {cpu(s1 - s0):.0f}%, apiload {rep['loadgen_cpu_percent']:.0f}%; host {100.0 * (hb1 - hb0) / max(ht1 - ht0, 1):.0f}% busy")
print(f"server RSS {rss} kB; call records {rec0} before the load, {rec1} after")
# Who else used the host's CPU over the window: processes alive at both ends, and what no such
# process accounts for (processes that came and went, such as compilers, and the kernel's own work).
def ticks(path):
    out = {}
    for line in open(path):
        pid, t, name = line.rstrip("\n").split(" ", 2)
        out[pid] = (int(t), name)
    return out
p0, p1 = ticks(a[27]), ticks(a[28])
own = set(a[29].split())
alive = [(pid, t - p0[pid][0], name) for pid, (t, name) in p1.items() if pid in p0 and p0[pid][1] == name]
others = sorted(((d, n) for pid, d, n in alive if pid not in own and d > 0), reverse=True)
# apiload ended before the second reading: its own count stands in for it.
loadgen = rep["loadgen_cpu_percent"] / 100 * rep["elapsed_s"] * tick
unattributed = (hb1 - hb0) - sum(d for _, d, _ in alive) - loadgen
print("other CPU users over the window (% of one core): " +
      (", ".join(f"{n} {cpu(d):.0f}%" for d, n in others[:5]) or "none") +
      f"; not attributed to a process alive throughout {cpu(max(unattributed, 0)):.0f}%")
why = []
if o["p99"] >= p99_max: why.append(f"p99 {o['p99']:.2f} ms >= {p99_max:.0f} ms")
if errs: why.append(f"{errs} API errors")
if rep["ok_rate"] < 0.99 * api_rate: why.append(f"{rep['ok_rate']:.0f} ok reads/s < 99% of {api_rate:.0f}")
if failed_all: why.append(f"{failed_all} failed calls")
if rate and call_rate < 0.98 * rate: why.append(f"{call_rate:.1f} calls/s < 98% of {rate:.0f}")
print("verdict: " + ("PASS" if not why else "FAIL (" + "; ".join(why) + ")"))
PY
[ -n "$foreign0$foreign1" ] && echo "WARNING: other loads ran beside this one (at the window's start: ${foreign0:-none}; end: ${foreign1:-none}): the numbers are not this run's alone"
echo "server log: $(grep -c 'level=WARN' "$out/server.log" || true) warnings, $(grep -c 'level=ERROR' "$out/server.log" || true) errors"
