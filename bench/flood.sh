#!/usr/bin/env bash
# Flood benchmarks of Dialtone's SIP front, on loopback only, bounded in time and count. Each
# subcommand builds the server from the tree and runs it with default flags (apart from --sip,
# --http and --data), then stops everything it started.
#
#   bench/flood.sh invite-flood   for DURATION s (30) one sipp on 127.0.0.50 sends unauthenticated
#                                 INVITEs as fast as it can (bench/flood-invite.xml, -r FLOOD_RATE per
#                                 FLOOD_PERIOD ms) while 127.0.0.51 (1001, digest) calls 127.0.0.52
#                                 (1002, a registered sipp answering) at CPS calls/s (5), each held
#                                 HOLD_MS (1000). Reports flood packets sent, legitimate calls
#                                 attempted/succeeded, server peak RSS (VmHWM) and CPU time, and when
#                                 the flooding address was banned (GET /v1/security/bans, reason flood).
#   bench/flood.sh options-flood  the same with OPTIONS (bench/flood-options.xml).
#   bench/flood.sh tcp-idle       bench/tcpidle opens IDLE_CONNS (20000) silent TCP connections to the
#                                 SIP port from 127.0.0.100-199 and holds them IDLE_HOLD s (40); a digest
#                                 REGISTER and a call over TCP (sipp -t t1, 127.0.0.53 -> 127.0.0.54) are
#                                 tried before, twice while they are held (at once, and after the front's
#                                 10 s first-message timeout) and after they are released. Reports
#                                 connections made and closed by the server, server peak RSS and fds.
#                                 IDLE_REDIAL=1 dials again each connection the server held and then
#                                 closed (tcpidle -redial), as an attacker keeping its connections would.
#
# Targets: legitimate calls >= 99% succeed, peak RSS < 200 MB, the flooder banned for flood, TCP
# serving during and after the idle connections. A line "verdict: PASS|FAIL ..." ends each summary.
# Needs sipp (Debian package sip-tester), curl, python3 and go. Results go to bench/results/.
# Run one at a time: each one loads the machine on its own.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
case "$mode" in
  invite-flood | options-flood | tcp-idle) ;;
  *) echo "usage: $0 invite-flood|options-flood|tcp-idle" >&2; exit 2 ;;
esac

duration=${DURATION:-30}
flood_rate=${FLOOD_RATE:-100000}
flood_period=${FLOOD_PERIOD:-1000}
cps=${CPS:-5}
hold_ms=${HOLD_MS:-1000}
idle_conns=${IDLE_CONNS:-20000}
idle_hold=${IDLE_HOLD:-40}
idle_redial=${IDLE_REDIAL:-0}

out=bench/results/$(date +%Y%m%d-%H%M%S)-flood-$mode
mkdir -p "$out"
key=bench-flood-admin-key-0123456789
http=127.0.0.1:18660
sip=127.0.0.1:25660
. bench/lib.sh

flooder=127.0.0.50
caller_ip=127.0.0.51 caller_port=25662
callee_ip=127.0.0.52 callee_port=25663
tcp_caller_ip=127.0.0.53 tcp_caller_port=25664
tcp_callee_ip=127.0.0.54 tcp_callee_port=25665
caller_pw=flood-caller-password callee_pw=flood-callee-password
tick=$(getconf CLK_TCK)

tmp=$(mktemp -d)
pid=
started=() # every helper process, stopped at exit
cleanup() {
  stop_started
  stop_process "$pid"
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
since() { awk -v s="$1" -v e="$(now)" 'BEGIN{printf "%.1f", e-s}'; }

# monitor FILE: samples the server every 0.5 s (seconds since start, VmRSS kB, VmHWM kB, fds,
# CPU ticks) until the file FILE.stop appears or the server ends; 10 minutes at most.
monitor() {
  local t0
  t0=$(now)
  for _ in $(seq 1200); do
    [ -e "$1.stop" ] && break
    kill -0 "$pid" 2>/dev/null || break
    echo "$(since "$t0") $(rss_kb) $(hwm_kb) $(fd_count) $(cpu_ticks)" >>"$1" 2>/dev/null || true
    sleep 0.5
  done
}
start_monitor() { monitor "$1" & started+=($!); }
stop_monitor() { touch "$1.stop"; sleep 0.6; rm -f "$1.stop"; }
peak_col() { awk -v c="$2" 'BEGIN{m=0} $c > m {m=$c} END{print m}' "$1"; }

# server_errors: ERROR lines of the server log, apart from /readyz polled before the server was ready.
server_errors() { grep 'level=ERROR' "$out/server.log" | grep -vc 'path=/readyz' || true; }

start_server() {
  build_dialtone "$out/dialtone"
  start_dialtone "$out/dialtone" "$tmp/data" "$out/server.log"
  add_extension 1001 "$caller_pw"
  add_extension 1002 "$callee_pw"
  # The calls carry no media: the caller's scenario without its capture.
  sed '/<nop>/,/<\/nop>/d' $scen/uac.xml >"$tmp/uac.xml"
  echo "server pid $pid on $sip (http $http), idle RSS $(rss_kb) kB, $(fd_count) fds"
}

# bans_report IP T0: the ban of IP (reason, seconds after T0) and its security.ip_banned events.
bans_report() {
  local bans events
  bans=$(api GET /security/bans)
  events=$(api GET "/events/history?types=security.ip_banned&limit=500")
  python3 - "$1" "$2" "$bans" "$events" <<'PY'
import datetime, json, sys
ip, t0, bans, events = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
mine = [b for b in bans.get("items") or [] if b["ip"] == ip]
others = [b["ip"] for b in bans.get("items") or [] if b["ip"] != ip]
ev = [e for e in events.get("items") or [] if ip in json.dumps(e.get("data"))]
if mine:
    b = mine[0]
    since = datetime.datetime.fromisoformat(b["since"].replace("Z", "+00:00")).timestamp()
    print(f"ban: {ip} banned, reason {b['reason']}, {since - t0:.2f} s after the flood started, until {b['until']}")
else:
    print(f"ban: {ip} NOT banned")
print(f"ban events: {len(ev)} security.ip_banned for {ip}" + (f" (reason {ev[0]['data'].get('reason')})" if ev else ""))
print(f"other banned addresses: {', '.join(others) or 'none'}")
PY
}

flood() {
  local method=$1 calls=$((cps * duration))
  start_server
  sipp_register 1002 "$callee_pw" "$callee_ip" "$callee_port"
  sipp_register 1001 "$caller_pw" "$caller_ip" "$caller_port"
  local udp_before
  udp_before=$(udp_errors)

  timeout $((duration + 60)) sipp -sf $scen/uas.xml -i "$callee_ip" -p "$callee_port" -m "$calls" -nostdin \
    -timeout $((duration + 45)) -trace_stat -stf "$out/uas-stats.csv" -trace_err -error_file "$out/uas-errors.log" \
    >"$out/uas.log" 2>&1 &
  local uas=$!
  started+=("$uas")
  sleep 0.3
  start_monitor "$out/samples.txt"
  local t0 cpu0
  t0=$(now)
  cpu0=$(cpu_ticks)
  timeout $((duration + 30)) sipp "$sip" -sf "bench/flood-$method.xml" -s 1002 -i "$flooder" -p 25661 \
    -r "$flood_rate" -rp "$flood_period" -nr -nostdin -timeout "$duration" -deadcall_wait 1000 \
    -trace_stat -stf "$out/flood-stats.csv" -fd 1 >"$out/flood.log" 2>&1 &
  local fl=$!
  started+=("$fl")
  timeout $((duration + 60)) sipp "$sip" -sf "$tmp/uac.xml" -s 1002 -inf "$out/1001.csv" -au 1001 -ap "$caller_pw" \
    -i "$caller_ip" -p "$caller_port" -m "$calls" -r "$cps" -d "$hold_ms" -nostdin -timeout $((duration + 45)) \
    -trace_stat -stf "$out/uac-stats.csv" -trace_err -error_file "$out/uac-errors.log" >"$out/uac.log" 2>&1 &
  local uac=$!
  started+=("$uac")

  set +e
  wait "$fl"; local fl_rc=$?
  local flood_secs cpu1
  flood_secs=$(since "$t0")
  cpu1=$(cpu_ticks)
  local sock_drops_flood
  sock_drops_flood=$(udp_socket_drops "${sip##*:}")
  wait "$uac"; local uac_rc=$?
  wait "$uas"; local uas_rc=$?
  set -e
  local cpu2
  cpu2=$(cpu_ticks)
  stop_monitor "$out/samples.txt"

  local sent rate attempted ok failed
  sent=$(awk -F';' 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == "TotalCallCreated") c = i} END {print $c}' "$out/flood-stats.csv")
  rate=$(awk -v n="$sent" -v s="$flood_secs" 'BEGIN{printf "%.0f", n / s}')
  attempted=$(awk -F';' 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == "TotalCallCreated") c = i} END {print $c}' "$out/uac-stats.csv")
  ok=$(sipp_total "$out/uac.log" "Successful call")
  failed=$(sipp_total "$out/uac.log" "Failed call")
  local hwm
  hwm=$(hwm_kb)
  {
    echo "scenario: $method flood from $flooder for ${duration}s (sipp -r $flood_rate -rp $flood_period), calls $caller_ip -> $callee_ip at $cps/s held ${hold_ms} ms"
    echo "flood: sipp exit $fl_rc, $sent ${method^^} sent in ${flood_secs}s (${rate}/s)"
    echo "legitimate calls: attempted $attempted, successful $ok, failed $failed (caller exit $uac_rc, callee exit $uas_rc)"
    bans_report "$flooder" "$t0"
    echo "server peak RSS (VmHWM) $hwm kB; peak fds $(peak_col "$out/samples.txt" 4)"
    echo "server CPU: $(awk -v a="$cpu0" -v b="$cpu1" -v t="$tick" -v s="$flood_secs" 'BEGIN{printf "%.2f s during the flood (%.0f%% of one core)", (b-a)/t, 100*(b-a)/t/s}'), $(awk -v a="$cpu0" -v b="$cpu2" -v t="$tick" 'BEGIN{printf "%.2f s", (b-a)/t}') to the end of the calls"
    echo "server SIP UDP socket: $sock_drops_flood datagrams dropped by the kernel (receive buffer full) during the flood, $(udp_socket_drops "${sip##*:}") by the end"
    echo "kernel (whole host) before: $udp_before; after: $(udp_errors)"
    echo "server log: $(grep -c 'level=WARN' "$out/server.log" || true) warnings, $(server_errors) errors"
    python3 - "$attempted" "$ok" "$hwm" "$out" "$flooder" <<'PY'
import sys
attempted, ok, hwm, out, ip = int(sys.argv[1] or 0), int(sys.argv[2] or 0), int(sys.argv[3]), sys.argv[4], sys.argv[5]
bad = []
if attempted == 0 or ok < 0.99 * attempted:
    bad.append(f"legitimate calls {ok}/{attempted} < 99%")
if hwm >= 200 * 1024:
    bad.append(f"peak RSS {hwm} kB >= 200 MB")
print("verdict: " + ("PASS" if not bad else "FAIL (" + "; ".join(bad) + ")"))
PY
  } | tee "$out/summary.txt"
  grep -q "^ban: $flooder banned, reason flood" "$out/summary.txt" || echo "verdict: FAIL (no flood ban)" | tee -a "$out/summary.txt"
}

# tcp_check LABEL: a digest REGISTER of 1001 over TCP from a new connection, then one call over TCP
# from 1001 to 1002. Prints one line; the sipp logs go to $out/tcp-LABEL-*.
tcp_check() {
  local label=$1 reg call uas_rc
  set +e
  sipp_register 1001 "$caller_pw" "$tcp_caller_ip" "$tcp_caller_port" -t t1 \
    -trace_err -error_file "$out/tcp-$label-register-errors.log" 2>"$out/tcp-$label-register.log"
  reg=$?
  timeout 30 sipp -t t1 -sf $scen/uas.xml -i "$tcp_callee_ip" -p "$tcp_callee_port" -m 1 -nostdin -timeout 20 \
    -trace_err -error_file "$out/tcp-$label-uas-errors.log" >"$out/tcp-$label-uas.log" 2>&1 &
  local uas=$!
  started+=("$uas")
  sleep 0.3
  timeout 30 sipp "$sip" -t t1 -sf "$tmp/uac.xml" -s 1002 -inf "$out/1001.csv" -au 1001 -ap "$caller_pw" \
    -i "$tcp_caller_ip" -p "$tcp_caller_port" -m 1 -d "$hold_ms" -nostdin -timeout 20 \
    -trace_err -error_file "$out/tcp-$label-uac-errors.log" >"$out/tcp-$label-uac.log" 2>&1
  call=$?
  wait "$uas"; uas_rc=$?
  set -e
  echo "tcp $label: REGISTER $([ $reg = 0 ] && echo ok || echo "FAILED (sipp exit $reg)"), call $([ $call = 0 ] && echo ok || echo "FAILED (sipp exit $call, callee exit $uas_rc)"); server $(fd_count) fds, RSS $(rss_kb) kB"
}
tcp_idle() {
  start_server
  go build -o "$out/tcpidle" ./bench/tcpidle
  sipp_register 1002 "$callee_pw" "$tcp_callee_ip" "$tcp_callee_port" -t t1
  {
    echo "scenario: $idle_conns idle TCP connections from 127.0.0.100-199 held ${idle_hold}s$([ "$idle_redial" = 1 ] && echo ", each one the server closes after holding it dialled again"); checks from $tcp_caller_ip -> $tcp_callee_ip over TCP"
    tcp_check before
  } | tee "$out/summary.txt"
  local fds0
  fds0=$(fd_count)
  start_monitor "$out/samples.txt"
  local t0
  t0=$(now)
  timeout $((idle_hold + 120)) "$out/tcpidle" -addr "$sip" -n "$idle_conns" -from 127.0.0.100 -sources 100 \
    -hold "${idle_hold}s" $([ "$idle_redial" = 1 ] && echo -redial) >"$out/tcpidle.log" 2>&1 &
  local idle=$!
  started+=("$idle")
  for _ in $(seq 1200); do
    grep -q '^dialled' "$out/tcpidle.log" && break
    kill -0 "$idle" 2>/dev/null || break
    sleep 0.1
  done
  {
    grep '^dialled' "$out/tcpidle.log" || echo "tcpidle did not finish dialling"
    echo "at $(since "$t0")s, server $(fd_count) fds, RSS $(rss_kb) kB"
    tcp_check held-early
  } | tee -a "$out/summary.txt"
  # After the front's first-message timeout (10 s) has closed what it held.
  local wait_s
  wait_s=$(awk -v e="$(since "$t0")" 'BEGIN{w = 15 - e; print (w > 0 ? w : 0)}')
  sleep "$wait_s"
  {
    echo "at $(since "$t0")s, server $(fd_count) fds, RSS $(rss_kb) kB"
    tcp_check held-late
  } | tee -a "$out/summary.txt"
  set +e
  wait "$idle"; local idle_rc=$?
  set -e
  sleep 1
  {
    echo "tcpidle exit $idle_rc after $(since "$t0")s: $(grep '^summary' "$out/tcpidle.log")"
    tcp_check after
  } | tee -a "$out/summary.txt"
  stop_monitor "$out/samples.txt"
  {
    echo "server peak RSS (VmHWM) $(hwm_kb) kB; peak fds $(peak_col "$out/samples.txt" 4) (before: $fds0)"
    echo "server log: $(grep -c 'level=WARN' "$out/server.log" || true) warnings, $(server_errors) errors"
    echo "server refused at least $(awk '/sip tcp connection refused/ {n++; for (i = 1; i <= NF; i++) if ($i ~ /^refused_since_last_line=/) {split($i, kv, "="); n += kv[2]}} END {print n + 0}' "$out/server.log") TCP connections at accept (connection limit or banned; its log lines are rate-limited)"
    local bad=""
    grep -q 'FAILED' "$out/summary.txt" && bad="$bad; a TCP check failed"
    [ "$(hwm_kb)" -lt $((200 * 1024)) ] || bad="$bad; peak RSS >= 200 MB"
    echo "verdict: $([ -z "$bad" ] && echo PASS || echo "FAIL (${bad#; })")"
  } | tee -a "$out/summary.txt"
}

case "$mode" in
  invite-flood) flood invite ;;
  options-flood) flood options ;;
  tcp-idle) tcp_idle ;;
esac
echo "results in $out"
