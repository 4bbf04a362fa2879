#!/usr/bin/env bash
# Callers sitting in an IVR menu, on loopback only, bounded in time (under 3 minutes at the
# defaults). For each mode the server is built from the tree, started on an empty data dir and
# provisioned through the API: a 30 s prompt (a 440 Hz tone), a call plan whose entry is a menu
# playing it (timeout_seconds 30, retries 3), an IP trunk for 127.0.0.61 and a DID routed to the
# plan. sipp on 127.0.0.61 then places N calls to the DID at RATE calls/s; each caller sends PCMA
# (pink noise, sipp rtp_stream) for HOLD s and hangs up, so every caller hears the prompt while the
# PBX listens for digits. Once all N are in the menu the server's CPU (utime+stime from
# /proc/PID/stat) is read over a WINDOW s window and its RSS (VmRSS) each second of it.
#
#   bench/ivr-bench.sh [N] [MODE]   N callers (300); MODE inband (PCMA only offered: the in-band
#                                   Goertzel detector runs on every packet), rfc4733 (PCMA and
#                                   telephone-event offered: no detector) or both (default)
#
# Tunables (environment): BIN (a server binary to run instead of building the tree), RATE (50 calls/s), HOLD (seconds each call lasts; 30, at least what
# the window needs), WINDOW (10 s). Reports per mode: CPU ms per second per caller, RSS kB per
# caller (mean RSS over the window minus idle RSS, over N), failed calls, and from the call records the
# menu reached and the RTP packets the PBX sent and received per call.
# Needs sipp (Debian package sip-tester), sox, curl, python3 and go. Results go to bench/results/.
# Run it alone: it loads the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-300}
modes=${2:-both}
[ "$modes" = both ] && modes="inband rfc4733"
for m in $modes; do
  case "$m" in inband | rfc4733) ;; *) echo "usage: $0 [N] [inband|rfc4733|both]" >&2; exit 2 ;; esac
done
rate=${RATE:-50}
window=${WINDOW:-10}
ramp=$(((n + rate - 1) / rate))
# Every call must outlive the window, which opens 3 s after the last call started.
hold=${HOLD:-30}
[ "$hold" -ge $((ramp + 3 + window + 2)) ] || hold=$((ramp + 3 + window + 2))

out=bench/results/$(date +%Y%m%d-%H%M%S)-ivr-$n
mkdir -p "$out"
key=bench-ivr-admin-key-0123456789abcdef
http=127.0.0.1:18780
sip=127.0.0.1:25760
. bench/lib.sh
caller_ip=127.0.0.61
caller_port=25761
did=+14155550199
tick=$(getconf CLK_TCK)

tmp=$(mktemp -d)
pid=
started=() # helper processes, stopped at exit
stop_server() {
  stop_process "$pid"
  pid=
}
cleanup() {
  stop_started
  stop_server
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The caller's audio: 10 s of pink noise in raw A-law, looped by sipp's rtp_stream.
sox -n -r 8000 -c 1 -e a-law -t al "$tmp/caller.al" synth 10 pinknoise vol 0.3
# The prompt: 30 s of a tone, 8 kHz mono 16-bit.
sox -n -r 8000 -c 1 -b 16 "$tmp/prompt.wav" synth 30 sine 440 vol 0.3

# scenario MODE: a caller from a carrier (no authentication: the trunk matches the source
# address) offering PCMA, with telephone-event in rfc4733 mode; RTP for the -d pause, then BYE.
scenario() {
  local sdp_pt="8" sdp_te=""
  if [ "$1" = rfc4733 ]; then
    sdp_pt="8 101"
    sdp_te=$'\n      a=rtpmap:101 telephone-event/8000\n      a=fmtp:101 0-15'
  fi
  cat <<EOF
<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="ivr caller $1">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:+1212555[call_number]@[local_ip]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:carrier@[local_ip]:[local_port]>
      Max-Forwards: 70
      User-Agent: sipp
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [auto_media_port] RTP/AVP $sdp_pt
      a=rtpmap:8 PCMA/8000$sdp_te
      a=ptime:20
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:+1212555[call_number]@[local_ip]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <nop>
    <action>
      <exec rtp_stream="$tmp/caller.al,-1,8"/>
    </action>
  </nop>
  <pause/>
  <nop>
    <action>
      <exec rtp_stream="pause"/>
    </action>
  </nop>
  <send retrans="500">
    <![CDATA[
      BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:+1212555[call_number]@[local_ip]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
</scenario>
EOF
}

# provision: the prompt, the plan, the trunk and the DID.
provision() {
  local prompt plan trunk
  prompt=$(curl -sf -X POST -H "Authorization: Bearer $key" -H 'Content-Type: audio/wav' \
    --data-binary "@$tmp/prompt.wav" "http://$http/v1/prompts?name=menu-greeting" | json_id)
  plan=$(api POST /call-plans "{\"name\":\"bench menu\",\"entry\":\"menu\",\"nodes\":{
    \"menu\":{\"kind\":\"menu\",\"prompts\":[\"$prompt\"],\"options\":{\"1\":\"bye\"},\"timeout_seconds\":30,\"retries\":3},
    \"bye\":{\"kind\":\"hangup\"}}}" | json_id)
  trunk=$(api POST /trunks "{\"name\":\"bench carrier\",\"host\":\"$caller_ip\",\"auth_mode\":\"ip\",
    \"allowed_cidrs\":[\"$caller_ip/32\"]}" | json_id)
  api POST /numbers "{\"number\":\"$did\",\"trunk_id\":\"$trunk\",
    \"route\":{\"type\":\"call_plan\",\"call_plan_id\":\"$plan\"}}" >/dev/null
}
# host_ticks: busy,total clock ticks of all CPUs (/proc/stat), to see whether the host was saturated.
host_ticks() { awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6 "," t}' /proc/stat; }
json_id() { python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'; }

# stat_col FILE COLUMN: the last value of a column of sipp's -trace_stat file.
stat_col() {
  awk -F';' -v name="$2" 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == name) c = i; next} c {v = $c} END {print v + 0}' "$1"
}

# records: what the call records say of the calls to the plan.
records() {
  python3 - "http://$http/v1" "$key" "$1" <<'PY'
import collections, json, sys, urllib.request
api, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
cursor, items = "", []
while True:
    req = urllib.request.Request(f"{api}/call-records?limit=500&cursor={cursor}", headers={"Authorization": f"Bearer {key}"})
    page = json.load(urllib.request.urlopen(req))
    items += page["items"]
    cursor = page.get("next_cursor", "")
    if not cursor:
        break
paths = collections.Counter(" ".join(f'{s["node"]}[{s.get("digits", "")}]:{s.get("result", "")}' for s in i.get("plan_path") or []) or "none"
                            for i in items)
disp = collections.Counter(f'{i["disposition"]}/{i["hangup_by"]}/{i["hangup_cause"]}' for i in items)
talk = sorted(i["talk_seconds"] for i in items) or [0]
q = [(i.get("media") or {}).get("caller") or {"packets_in": 0, "packets_out": 0, "lost": 0} for i in items]
pin = sorted(x["packets_in"] for x in q) or [0]
pout = sorted(x["packets_out"] for x in q) or [0]
lost = sum(x["lost"] for x in q)
print(f"call records: {len(items)} (of {n} calls): " + ", ".join(f"{k} {v}" for k, v in disp.most_common()))
print("plan paths (node[digits]:result; each caller hangs up in the menu, so menu[]:caller_hung_up is expected): "
      + ", ".join(f"{k} {v}" for k, v in paths.most_common()))
print(f"per call: talk {talk[0]:.1f}-{talk[-1]:.1f} s; RTP from the caller {pin[0]}-{pin[-1]} packets (lost {lost} in all), "
      f"prompt RTP to the caller {pout[0]}-{pout[-1]} packets")
PY
}

# run MODE: one server, N callers in its menu; appends a row to $out/table.txt.
run() {
  local mode=$1 log=$out/$1
  scenario "$mode" >"$tmp/$mode.xml"
  start_dialtone "$out/dialtone" "$tmp/data-$mode" "$log-server.log" --domain bench.test --rtp-ports 20000-29999 --log-level warn
  provision
  sleep 1
  local idle fds0
  idle=$(rss_kb)
  fds0=$(fd_count)
  echo "$mode: server pid $pid, idle RSS $idle kB, $fds0 fds; $n calls at $rate/s, each ${hold}s"

  timeout $((hold + ramp + 60)) sipp "$sip" -sf "$tmp/$mode.xml" -s "$did" -i "$caller_ip" -p "$caller_port" \
    -m "$n" -l "$n" -r "$rate" -d $((hold * 1000)) -nostdin -timeout $((hold + ramp + 40)) \
    -trace_stat -stf "$log-stats.csv" -fd 1 -trace_err -error_file "$log-errors.log" >"$log-sipp.log" 2>&1 &
  local uac=$!
  started+=("$uac")
  sleep $((ramp + 3))
  kill -0 "$uac" 2>/dev/null || { echo "$mode: sipp ended early (see $log-sipp.log)"; cat "$log-errors.log" 2>/dev/null | tail -5; }
  local in_call0 c0 h0 t0 c1 h1 t1 in_call1 rss
  in_call0=$(stat_col "$log-stats.csv" CurrentCall)
  c0=$(cpu_ticks)
  h0=$(host_ticks)
  t0=$(date +%s.%N)
  # RSS swings with the garbage collector's cycles: its mean over the window, sampled each second.
  local rss_sum=0 rss_max=0 r
  for _ in $(seq "$window"); do
    sleep 1
    r=$(rss_kb)
    rss_sum=$((rss_sum + r))
    [ "$r" -gt "$rss_max" ] && rss_max=$r
  done
  c1=$(cpu_ticks)
  h1=$(host_ticks)
  t1=$(date +%s.%N)
  rss=$((rss_sum / window))
  in_call1=$(stat_col "$log-stats.csv" CurrentCall)

  set +e
  wait "$uac"
  local rc=$?
  set -e
  local ok failed created
  created=$(stat_col "$log-stats.csv" TotalCallCreated)
  ok=$(stat_col "$log-stats.csv" SuccessfulCall\(C\))
  failed=$(stat_col "$log-stats.csv" FailedCall\(C\))
  sleep 1
  records "$n" | tee "$log-records.txt"
  echo "$mode: RSS over the window: mean $rss kB, max $rss_max kB; after the calls $(rss_kb) kB, $(fd_count) fds (idle $fds0)"
  echo "$mode: server log $(grep -c 'level=WARN' "$log-server.log" || true) warnings, $(grep 'level=ERROR' "$log-server.log" | grep -vc 'path=/readyz' || true) errors"
  python3 - "$mode" "$n" "$in_call0" "$in_call1" "$c0" "$c1" "$t0" "$t1" "$tick" "$idle" "$rss" "$created" "$ok" "$failed" "$rc" "$h0" "$h1" >>"$out/table.txt" <<'PY'
import sys
mode, n, in0, in1 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
c0, c1, t0, t1, tick = int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7]), float(sys.argv[8]), int(sys.argv[9])
idle, rss, created, ok, failed, rc = (int(x) for x in sys.argv[10:16])
(b0, t0h), (b1, t1h) = (tuple(map(int, a.split(","))) for a in sys.argv[16:18])
host = 100.0 * (b1 - b0) / max(t1h - t0h, 1)
secs = t1 - t0
cpu_ms = (c1 - c0) * 1000 / tick
callers = min(in0, in1) or n
print(f"{mode:8} {callers:>4}/{n:<4} {cpu_ms / secs / 10:>6.1f}% {cpu_ms / secs / callers:>10.3f} {idle:>8} {rss:>8} "
      f"{(rss - idle) / callers:>9.1f} {created:>7} {ok:>5} {failed:>6} {rc:>4} {host:>5.0f}%")
PY
  stop_server
}

if [ -n "${BIN:-}" ]; then cp "$BIN" "$out/dialtone"; else build_dialtone "$out/dialtone"; fi
echo "mode     in-menu     CPU  ms/s/caller  idle-kB   RSS-kB  kB/caller created    ok failed sipp  host" >"$out/table.txt"
for m in $modes; do
  run "$m" 2>&1 | tee -a "$out/summary.txt"
done
{
  echo
  echo "N=$n callers at $rate calls/s, each ${hold}s; CPU and RSS of the server over ${window}s with all callers in the menu"
  echo "(CPU: server, % of one core; host: all cores busy, sipp included; in-menu: sipp's current calls at the start/end of the window)"
  cat "$out/table.txt"
  echo "results in $out"
} | tee -a "$out/summary.txt"
