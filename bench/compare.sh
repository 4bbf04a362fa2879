#!/usr/bin/env bash
# Side-by-side comparison of Dialtone with the standard open-source pair, Kamailio 5.6 (registrar,
# auth_db on db_text, dialog) plus rtpengine in userspace mode (bench/peer/), on loopback only,
# under the same sipp scenarios and the same 10,020 users. Runs are interleaved: peer, Dialtone,
# peer, Dialtone, ... (RUNS of each, 3 by default) and the report gives medians and the ratio.
#
#   bench/compare.sh             the full comparison (about 25 minutes)
#   QUICK=1 bench/compare.sh     one short run of each (about 4 minutes), for development
#
# Each run starts the server fresh for the registrations, and again for the calls (concurrent first,
# so memory per call is measured on a server that held nothing before):
#   reg-new     10,000 users (100000-109999, password bench-pw-USER) register once with digest at
#               REG_RATE/s (2,000) from 8 sipps: CPU per new REGISTER, memory (PSS) per registration
#   re-reg      the same users register again at 2,000/s for RE_REG_SECS (10): CPU per re-REGISTER
#   reg-max     REGISTER_LADDER rates for REG_STEP_SECS (3) each, one sipp per 450/s (Dialtone's
#               per-source limit for authenticated sources is 1,000 packets/s): the highest with
#               every REGISTER answered 200 and the rate reached
#   calls-100   2 s calls at 100 calls/s for CALL_SECS (30) between 4 caller and 4 callee sipps
#               (users 110000-110003 call 110008-110011, digest on the INVITE), PCMA both ways
#               from bench/rtpgen: server CPU per call from setup to teardown, setup time (INVITE
#               to 200, sipp's rtd) p50/p99, audio delivered
#   call-ladder 2 s calls at each rate of CALL_LADDER for STEP_SECS (20): the highest clean rate
#               (<= 0.1% failed, setup p99 <= 200 ms, the rate reached); stops at the first unclean one
#   concurrent  CONC (500) calls held together with PCMA both ways; over a WINDOW (10 s) with all of
#               them up: server CPU per relayed packet, audio delivered, rtpgen's RFC 3550 jitter,
#               PSS per live call; then, once SETTLE (34) s passed since the last call was set up
#               (64*T1: the INVITE transactions have ended), PSS per live call again over 5 s
#   sustain     SUSTAIN_RATE (300) calls/s of 2 s PCMA calls for SUSTAIN_SECS (60): failed calls,
#               setup p99, CPU per call
#   nomedia     calls without RTP, hung up once answered, at each rate of NOMEDIA_LADDER
#               (250 500 750 1000) for STEP_SECS: the highest rate with none failed, CPU per call
#   drain       (Dialtone only, not in the default PHASES) DRAIN_CALLS (CONC) PCMA calls set up at
#               100/s and held; once they are up, SIGTERM: the time the server takes to hang every
#               call up and exit, and the calls whose caller or callee got no BYE from it
#
# Whenever a Dialtone server stops (SIGTERM, as an operator would; it drains), bench/audit.py reads its
# database: one call record per call sipp made, every record finished, every call's created and ended
# events (ringing and answered for the answered ones). What it lost is reported as audit_lost.
#
# Media: the callers' SDP offers rtpgen's caller socket and the callees' SDP answers its echo socket;
# each caller logs the relay's address from the 200's SDP (sipp <log>), rtpgen follows the logs and
# sends a 20 ms PCMA packet per call every 20 ms, the echo returns it through the relay, and rtpgen
# measures loss and jitter per call (bench/rtpgen).
#
# CPU is utime+stime from /proc/PID/stat of the server processes only (every Kamailio process and
# rtpengine; Dialtone), memory is PSS (/proc/PID/smaps_rollup; Kamailio's processes share memory).
# sipp's and rtpgen's own CPU are reported separately. Needs root for apt-get the first time
# (kamailio, rtpengine-daemon, sip-tester), go, python3 and curl.
#
# Environment: QUICK, RUNS, SYSTEMS ("peer dialtone"), PHASES ("reg concurrent calls sustain nomedia",
# any of them to rerun a part; drain, which stops the server, runs last), PPROF=1 (Dialtone serves --pprof; a CPU profile of each phase is
# saved as dialtone-<run>-<phase>.cpu.pprof beside the results, and the heap profile and goroutine
# count once the registrations are in and while the concurrent calls are up), SIP_HOPS=1 (the sustain
# phase captures the server's SIP port with tcpdump and bench/siphops.py splits the setup time into
# its hops on the wire: the server's and the load generators'; sustain-*/hops.txt), CONC, WINDOW,
# SETTLE (0: no second memory sample), DRAIN_CALLS,
# CALL_SECS, STEP_SECS, CALL_LADDER, SUSTAIN_RATE, SUSTAIN_SECS, NOMEDIA_LADDER, REG_RATE, RE_REG_SECS, REG_STEP_SECS, REGISTER_LADDER, BIN (a Dialtone binary to use
# instead of building the tree). Results: bench/results/<timestamp>/compare.md and compare.json.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

quick=${QUICK:-0}
if [ "$quick" = 1 ]; then
  runs=${RUNS:-1} conc=${CONC:-100} window=${WINDOW:-5} call_secs=${CALL_SECS:-8} step_secs=${STEP_SECS:-6}
  call_ladder=${CALL_LADDER:-"100 200"} re_reg_secs=${RE_REG_SECS:-4} reg_step_secs=${REG_STEP_SECS:-2}
  reg_ladder=${REGISTER_LADDER:-"2000 4000"}
else
  runs=${RUNS:-3} conc=${CONC:-500} window=${WINDOW:-10} call_secs=${CALL_SECS:-30} step_secs=${STEP_SECS:-20}
  call_ladder=${CALL_LADDER:-"100 150 200 250 300 400 500"} re_reg_secs=${RE_REG_SECS:-10} reg_step_secs=${REG_STEP_SECS:-3}
  reg_ladder=${REGISTER_LADDER:-"2000 4000 6000 8000 10000"}
fi
systems=${SYSTEMS:-peer dialtone}
settle=${SETTLE:-34}
phases=${PHASES:-reg concurrent calls sustain nomedia}
sustain_rate=${SUSTAIN_RATE:-300} sustain_secs=${SUSTAIN_SECS:-$([ "$quick" = 1 ] && echo 10 || echo 60)}
drain_calls=${DRAIN_CALLS:-$conc}
nomedia_ladder=${NOMEDIA_LADDER:-$([ "$quick" = 1 ] && echo "250 500" || echo "250 500 750 1000")}
pprof=${PPROF:-0}
sip_hops=${SIP_HOPS:-0}
reg_rate=${REG_RATE:-2000}
re_reg_rate=2000
reg_users=10000 first_user=100000
call_first=110000 # callers 110000-110003, callees 110008-110011
n_users=10020
pairs=4
hold_ms=2000

out=bench/results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
out=$root/$out
tmp=$(mktemp -d)
raw=$out/raw.txt # lines: system run metric value
: >"$raw"
tick=$(getconf CLK_TCK)

# Addresses: the server under test, then the load.
peer_ip=127.0.0.40 dt_ip=127.0.0.42 sip_port=25860 dt_http=127.0.0.42:18860 dt_pprof=127.0.0.42:18861
rtpgen_ip=127.0.0.70 rtpgen_port=40000 echo_ip=127.0.0.71 echo_port=40002
key=bench-compare-admin-key-0123456789
. bench/lib.sh

started=()
sys= dpid= pdir= dt_calls=0 dt_calls_failed=0 dt_exited=0 dt_drained=0
cleanup() {
  stop_started
  stop_server
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "[$(date +%T)] $*" | tee -a "$out/log.txt" >&2; }
record() { echo "$sys $run $1 $2" >>"$raw"; }

# --- servers ---------------------------------------------------------------------------------

server_pids() {
  if [ "$sys" = peer ]; then bench/peer/peer.sh pids "$pdir"; else echo "$dpid"; fi
}
# server_ticks: utime+stime of every server process, in clock ticks.
server_ticks() {
  local t=0 p
  for p in $(server_pids); do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done
  echo "$t"
}
# server_pss: proportional set size of every server process, in kB.
server_pss() {
  local t=0 p
  for p in $(server_pids); do t=$((t + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0))); done
  echo "$t"
}
# profile NAME SECONDS: with PPROF=1, a CPU profile of Dialtone over the next SECONDS, in the
# background, to $out/dialtone-<run>-NAME.cpu.pprof.
profile() {
  [ "$pprof" = 1 ] && [ "$sys" = dialtone ] || return 0
  curl -sf -o "$out/dialtone-$run-$1.cpu.pprof" "http://$dt_pprof/debug/pprof/profile?seconds=$2" &
}
# snapshot NAME: with PPROF=1, Dialtone's heap profile and goroutine count now.
snapshot() {
  [ "$pprof" = 1 ] && [ "$sys" = dialtone ] || return 0
  curl -sf -o "$out/dialtone-$run-$1.heap.pprof" "http://$dt_pprof/debug/pprof/heap?gc=1" || true
  curl -sf "http://$dt_pprof/debug/pprof/goroutine?debug=1" | head -1 >"$out/dialtone-$run-$1.goroutines" || true
  curl -sf "http://$dt_pprof/debug/pprof/heap?gc=1&debug=1" | grep '^# [A-Z]' >"$out/dialtone-$run-$1.memstats" || true
  cp "/proc/$dpid/smaps" "$out/dialtone-$run-$1.smaps" 2>/dev/null || true
}
# has_phase NAME: whether PHASES includes NAME.
has_phase() { case " $phases " in *" $1 "*) return 0 ;; esac; return 1; }
target() { if [ "$sys" = peer ]; then echo "$peer_ip:$sip_port"; else echo "$dt_ip:$sip_port"; fi; }

# provision_dialtone: a data directory with the users, made once and copied for each run.
provision_dialtone() {
  log "dialtone: provisioning $n_users extensions into a template data directory"
  DIALTONE_ADMIN_KEY=$key "$tmp/dialtone" serve --data "$tmp/template" --http "$dt_http" --sip "$dt_ip:$sip_port" \
    --domain bench.test --log-level warn 2>"$out/provision.log" &
  dpid=$!
  for _ in $(seq 100); do curl -sf "http://$dt_http/readyz" >/dev/null && break; sleep 0.1; done
  python3 - "$dt_http" "$key" "$first_user" "$n_users" <<'PY'
import http.client, json, sys
host, key, first, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
c = http.client.HTTPConnection(host)
# The load generators are one network, as a carrier or an office LAN would
# be: allowed, so the per-source flood limit (meant for strangers) does not
# cap the rates measured (the peer has no such limit configured).
c.request("POST", "/v1/security/allowlist", json.dumps({"cidr": "127.0.0.0/8", "description": "bench load generators"}),
          {"Authorization": "Bearer " + key, "Content-Type": "application/json"})
r = c.getresponse()
data = r.read()
if r.status != 201:
    sys.exit(f"allowlist: {r.status} {data[:300]!r}")
for i in range(n):
    u = str(first + i)
    body = json.dumps({"number": u, "sip_password": "bench-pw-" + u, "ring_timeout_seconds": 60})
    c.request("POST", "/v1/extensions", body, {"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    if r.status != 201:
        sys.exit(f"extension {u}: {r.status} {data[:300]!r}")
PY
  kill "$dpid"
  wait "$dpid" 2>/dev/null || true
  dpid=
}

starts=0
start_server() {
  starts=$((starts + 1))
  tag=$run-$starts
  if [ "$sys" = peer ]; then
    pdir=$tmp/peer-$tag
    rm -rf "$pdir"
    mkdir -p "$pdir"
    cp -r "$tmp/peer-db" "$pdir/db"
    bench/peer/peer.sh start "$pdir"
  else
    rm -rf "$tmp/data"
    cp -a "$tmp/template" "$tmp/data"
    dt_calls=0 dt_calls_failed=0 dt_exited=0 dt_drained=0
    DIALTONE_ADMIN_KEY=$key "$tmp/dialtone" serve --data "$tmp/data" --http "$dt_http" --sip "$dt_ip:$sip_port" \
      --domain bench.test --rtp-ports 30000-39999 --log-level warn $([ "$pprof" = 1 ] && echo --pprof "$dt_pprof") \
      2>"$out/dialtone-$tag.log" &
    dpid=$!
    for _ in $(seq 100); do curl -sf "http://$dt_http/readyz" >/dev/null && break; sleep 0.1; done
    curl -sf "http://$dt_http/readyz" >/dev/null || { log "dialtone did not start"; return 1; }
  fi
  sleep 1
}

stop_server() {
  if [ -n "$pdir" ]; then
    cp "$pdir/kamailio.log" "$out/kamailio-$tag.log" 2>/dev/null || true
    cp "$pdir/rtpengine.log" "$out/rtpengine-$tag.log" 2>/dev/null || true
    bench/peer/peer.sh stop "$pdir"
    pdir=
  fi
  if [ -n "$dpid" ]; then stop_dialtone; fi
  dpid=
}

# stop_dialtone: the server stopped (terminate, up to 120 s; after the drain phase it has ended already, and its
# PID may be another's by now), then the audit of its database.
stop_dialtone() {
  local secs how ended="stopped by the drain phase"
  if [ "$dt_exited" = 0 ]; then
    read -r secs how < <(terminate "$dpid" 120)
    ended="$how ${secs}s after SIGTERM"
  fi
  wait "$dpid" 2>/dev/null || true
  local a=$out/audit-$tag.json lost stale
  python3 bench/audit.py "$tmp/data/dialtone.db" "$dt_calls" "$dt_calls_failed" "$dt_drained" >"$a" || true
  lost=$(jq_py "$a" '.get("lost", -1)' || echo -1)
  stale=$(jq_py "$a" '.get("stale_calls", -1)' || echo -1)
  log "dialtone run $run: $ended; audit of its database: $(cat "$a")"
  # What was lost, or kept too long, can be looked into: the database is kept.
  if [ "$lost" != 0 ] || [ "$stale" != 0 ]; then cp -a "$tmp/data" "$out/data-$tag"; fi
  record audit_lost "$lost"
  record audit_stale_calls "$stale"
}

# --- sipp scenarios ------------------------------------------------------------------------------

write_scenarios() {
  # A BYE from the server, answered (the callee's end of every call, the caller's in the drain phase).
  local answer_bye
  answer_bye=$(cat <<'EOF'
  <recv request="BYE"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
EOF
)
  cat >"$tmp/register.xml" <<'EOF'
<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="register">
  <send retrans="500">
    <![CDATA[
      REGISTER sip:bench.test SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field0]@bench.test>;tag=[pid]SIPpTag[call_number]
      To: <sip:[field0]@bench.test>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      Expires: 3600
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="401" auth="true"/>
  <send retrans="500">
    <![CDATA[
      REGISTER sip:bench.test SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field0]@bench.test>;tag=[pid]SIPpTag[call_number]
      To: <sip:[field0]@bench.test>
      Call-ID: [call_id]
      CSeq: 2 REGISTER
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      [field1]
      Expires: 3600
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>
EOF
  cat >"$tmp/caller.xml" <<EOF
<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="caller">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field0]@bench.test>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@bench.test>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- [call_number] 1 IN IP4 $rtpgen_ip
      s=-
      c=IN IP4 $rtpgen_ip
      t=0 0
      m=audio $rtpgen_port RTP/AVP 8
      a=rtpmap:8 PCMA/8000
      a=ptime:20
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="407" auth="true"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-3]
      From: <sip:[field0]@bench.test>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@bench.test>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field0]@bench.test>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@bench.test>
      Call-ID: [call_id]
      CSeq: 2 INVITE
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      [field1]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- [call_number] 2 IN IP4 $rtpgen_ip
      s=-
      c=IN IP4 $rtpgen_ip
      t=0 0
      m=audio $rtpgen_port RTP/AVP 8
      a=rtpmap:8 PCMA/8000
      a=ptime:20
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true" rrs="true">
    <action>
      <ereg regexp="c=IN IP4 ([0-9.]+)" search_in="body" check_it="true" assign_to="c,mip"/>
      <ereg regexp="m=audio ([0-9]+)" search_in="body" check_it="true" assign_to="m,mport"/>
    </action>
  </recv>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: <sip:[field0]@bench.test>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@bench.test>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <nop>
    <action>
      <log message="rtpgen start [call_id] [\$mip] [\$mport] ([\$c], [\$m])"/>
    </action>
  </nop>
  <pause/>
  <nop>
    <action>
      <log message="rtpgen stop [call_id]"/>
    </action>
  </nop>
  <send retrans="500" start_txn="bye">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: <sip:[field0]@bench.test>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@bench.test>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 3 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true" response_txn="bye"/>
</scenario>
EOF
  cat >"$tmp/callee.xml" <<EOF
<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="callee">
  <recv request="INVITE" crlf="true"/>
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_Record-Route:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port]>
      Content-Length: 0

    ]]>
  </send>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_Record-Route:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- [call_number] 1 IN IP4 $echo_ip
      s=-
      c=IN IP4 $echo_ip
      t=0 0
      m=audio $echo_port RTP/AVP 8
      a=rtpmap:8 PCMA/8000
      a=ptime:20
    ]]>
  </send>
  <recv request="ACK" crlf="true"/>
$answer_bye
</scenario>
EOF
  # The caller of the drain phase holds its call until the server hangs it up, and answers the BYE.
  {
    sed '/<pause\/>/,$d' "$tmp/caller.xml"
    cat <<EOF
$answer_bye
  <nop>
    <action>
      <log message="rtpgen stop [call_id]"/>
    </action>
  </nop>
</scenario>
EOF
  } >"$tmp/caller-bye.xml"
  # Injection files: field0 the user, field1 its credentials (sipp expands keywords in fields, not in
  # the parameters of [authentication]).
  local i
  for i in $(seq 0 $((pairs - 1))); do
    cred $((call_first + i)) >"$tmp/caller-$i.csv"
    cred $((call_first + 8 + i)) >"$tmp/callee-$i.csv"
  done
}

# cred_line: injection lines for the users on stdin.
cred_line() { awk '{print $1 ";[authentication username=" $1 " password=bench-pw-" $1 "];"}'; }
cred() { echo SEQUENTIAL; echo "$1" | cred_line; }
# users_csv FILE FROM COUNT: an injection file of users FROM..FROM+COUNT-1.
users_csv() {
  { echo SEQUENTIAL; seq "$2" $(($2 + $3 - 1)) | cred_line; } >"$1"
}

# stat_col FILE COLUMN: the last value of a column of sipp's -trace_stat file.
stat_col() {
  awk -F';' -v name="$2" 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == name) c = i; next} c {v = $c} END {print v + 0}' "$1" 2>/dev/null || echo 0
}
sum_col() { local t=0 f; for f in $1; do t=$((t + $(stat_col "$f" "$2"))); done; echo $t; }
now() { date +%s.%N; }

# --- registrations ----------------------------------------------------------------------------

# register_load NAME RATE TOTAL SOURCES: TOTAL digest REGISTERs of users 100000.. at RATE/s,
# split over SOURCES sipps (each on its own address, looping over its share of the users).
# Sets reg_ok, reg_failed, reg_secs, sipp_cpu.
register_load() {
  local name=$1 rate=$2 total=$3 sources=$4 d=$out/$1-$sys-$run
  mkdir -p "$d"
  local share=$((reg_users / sources)) i t0
  for i in $(seq 0 $((sources - 1))); do
    [ -s "$tmp/users-$sources-$i.csv" ] || users_csv "$tmp/users-$sources-$i.csv" $((first_user + i * share)) "$share"
  done
  t0=$(now)
  (
    for i in $(seq 0 $((sources - 1))); do
      timeout -k 10 300 sipp "$(target)" -sf "$tmp/register.xml" -inf "$tmp/users-$sources-$i.csv" \
        -i "127.0.0.$((100 + i))" -p $((26000 + i)) -r $((rate * 10 / sources)) -rp 10000 -m $((total / sources)) \
        -l 5000 -nostdin -timeout 120 -trace_stat -stf "$d/stats-$i.csv" -fd 1 \
        -trace_err -error_file "$d/errors-$i.log" >"$d/sipp-$i.log" 2>&1 &
    done
    wait
    awk '{print $16 + $17}' "/proc/$BASHPID/stat" >"$d/sippcpu"
  ) || true
  reg_secs=$(awk -v s="$t0" -v e="$(now)" 'BEGIN{printf "%.2f", e-s}')
  reg_ok=$(sum_col "$d/stats-*.csv" 'SuccessfulCall(C)')
  # Calls sipp never created (it fell behind, or gave up) count as failed.
  reg_planned=$((total / sources * sources))
  reg_failed=$(( $(sum_col "$d/stats-*.csv" 'FailedCall(C)') + reg_planned - $(sum_col "$d/stats-*.csv" 'TotalCallCreated') ))
  sipp_cpu=$(awk -v t="$(cat "$d/sippcpu")" -v k="$tick" 'BEGIN{printf "%.2f", t/k}')
}

phase_registrations() {
  local pss0 c0 c1 pss1
  pss0=$(server_pss)
  c0=$(server_ticks)
  profile reg-new $((reg_users / reg_rate))
  register_load reg-new "$reg_rate" "$reg_users" 8
  c1=$(server_ticks)
  sleep 1
  pss1=$(server_pss)
  snapshot reg-new
  log "$sys run $run: reg-new $reg_ok ok, $reg_failed failed in ${reg_secs}s; server CPU $(((c1 - c0) * 1000 / tick)) ms; PSS $pss0 -> $pss1 kB; sipp CPU ${sipp_cpu}s"
  record reg_new_cpu_ms $(awk -v c=$((c1 - c0)) -v k="$tick" -v n="$reg_users" 'BEGIN{printf "%.4f", c*1000/k/n}')
  record reg_mem_kb $(awk -v a="$pss0" -v b="$pss1" -v n="$reg_users" 'BEGIN{printf "%.2f", (b-a)/n}')
  record reg_new_failed "$reg_failed"
  record sipp_cpu_s.reg_new "$sipp_cpu"

  local total=$((re_reg_rate * re_reg_secs))
  c0=$(server_ticks)
  profile re-reg "$re_reg_secs"
  register_load re-reg "$re_reg_rate" "$total" 8
  c1=$(server_ticks)
  log "$sys run $run: re-reg $reg_ok ok, $reg_failed failed in ${reg_secs}s at ${re_reg_rate}/s; server CPU $(((c1 - c0) * 1000 / tick)) ms"
  record rereg_cpu_ms $(awk -v c=$((c1 - c0)) -v k="$tick" -v n="$total" 'BEGIN{printf "%.4f", c*1000/k/n}')
  record rereg_failed "$reg_failed"
  record sipp_cpu_s.rereg "$sipp_cpu"

  local best=0 rate sources
  for rate in $reg_ladder; do
    total=$((rate * reg_step_secs))
    sources=$(((rate + 449) / 450))
    [ "$sources" -ge 4 ] || sources=4
    register_load "reg-$rate" "$rate" "$total" "$sources"
    local reached
    reached=$(awk -v n="$reg_ok" -v s="$reg_secs" 'BEGIN{printf "%.0f", n/s}')
    log "$sys run $run: REGISTER at ${rate}/s from $sources sipps: $reg_ok ok, $reg_failed failed in ${reg_secs}s (${reached}/s reached); sipp CPU ${sipp_cpu}s"
    # Clean: every REGISTER answered 200, and within 20% (plus a second) of the planned time.
    if [ "$reg_failed" = 0 ] && [ "$reg_ok" = "$reg_planned" ] &&
      awk -v s="$reg_secs" -v p="$reg_step_secs" 'BEGIN{exit !(s <= p * 1.2 + 1)}'; then
      best=$rate
    else
      break
    fi
  done
  record reg_max_rate "$best"
}

# --- calls ---------------------------------------------------------------------------------------

# register_callees: the callee sipps' users register from the addresses they answer on.
register_callees() {
  local i
  for i in $(seq 0 $((pairs - 1))); do
    timeout -k 10 20 sipp "$(target)" -sf "$tmp/register.xml" -inf "$tmp/callee-$i.csv" -i "127.0.0.$((84 + i))" \
      -p $((25884 + i)) -m 1 -nostdin -timeout 10 -trace_err -error_file "$out/callee-register-$sys-$run-$i.log" \
      >/dev/null 2>&1 || log "$sys run $run: callee $i did not register (see $out/callee-register-$sys-$run-$i.log)"
  done
}

# calls NAME RATE TOTAL HOLD_MS [WINDOW_HOOK]: TOTAL calls at RATE/s split over the caller/callee
# pairs, media from rtpgen. While the calls run, WINDOW_HOOK (a function) may measure. Sets
# calls_ok, calls_failed, calls_created, setup_p50, setup_p99, sipp_cpu, rtp (rtpgen's summary file),
# cpu_ms (server CPU from the first call to the last teardown).
calls() {
  local name=$1 rate=$2 total=$3 hold=$4 hook=${5:-} d=$out/$1-$sys-$run i
  mkdir -p "$d"
  local logs="" rg=
  for i in $(seq 0 $((pairs - 1))); do logs="$logs${logs:+,}$d/media-$i.log"; done
  if [ "${no_media:-0}" = 0 ]; then
    "$tmp/rtpgen" -local "$rtpgen_ip:$rtpgen_port" -echo "$echo_ip:$echo_port" -logs "$logs" -marks "$d/marks.jsonl" \
      >"$d/rtpgen.json" 2>"$d/rtpgen.err" &
    rg=$!
    started+=("$rg")
  fi
  local per=$((total / pairs)) secs=$((total / rate)) c0 c1
  c0=$(server_ticks)
  (
    ups=() cps=()
    for i in $(seq 0 $((pairs - 1))); do
      timeout -k 10 $((secs + hold / 1000 + 120)) sipp -sf "$tmp/callee.xml" -i "127.0.0.$((84 + i))" -p $((25884 + i)) \
        -m "$per" -l 10000 -nostdin -timeout $((secs + hold / 1000 + 90)) -trace_stat -stf "$d/callee-$i.csv" -fd 1 \
        -trace_err -error_file "$d/callee-errors-$i.log" >"$d/callee-$i.log" 2>&1 &
      ups+=($!)
    done
    sleep 0.3
    for i in $(seq 0 $((pairs - 1))); do
      (cd "$d" && exec timeout -k 10 $((secs + hold / 1000 + 120)) sipp "$(target)" -sf "$tmp/${caller_sf:-caller.xml}" -s $((call_first + 8 + i)) \
        -inf "$tmp/caller-$i.csv" -i "127.0.0.$((80 + i))" -p $((25880 + i)) -r $((rate * 10 / pairs)) -rp 10000 \
        -m "$per" -l 10000 -d "$hold" -nostdin -timeout $((secs + hold / 1000 + 90)) -cid_str "%u-%p-$name@%s" \
        -trace_stat -stf "$d/caller-$i.csv" -fd 1 -trace_rtt -rtt_freq 1 -trace_logs -log_file "$d/media-$i.log" \
        -trace_err -error_file "$d/caller-errors-$i.log" >"$d/caller-$i.log" 2>&1) &
      ups+=($!) cps+=($!)
    done
    [ -z "$hook" ] || "$hook" "$d" "$rg"
    wait "${cps[@]}" || true
    # The callees end with their last BYE; one that waits for calls that never came is stopped.
    for _ in $(seq 50); do
      alive=0
      for p in "${ups[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
      [ "$alive" = 0 ] && break
      sleep 0.1
    done
    for p in "${ups[@]}"; do kill "$p" 2>/dev/null || true; done
    wait
    awk '{print $16 + $17}' "/proc/$BASHPID/stat" >"$d/sippcpu"
  ) || true
  c1=$(server_ticks)
  sleep 0.5
  local rgcpu=0
  if [ -n "$rg" ]; then
    kill -INT "$rg" 2>/dev/null || true
    rgcpu=$(awk '{print $14 + $15}' "/proc/$rg/stat" 2>/dev/null || echo 0)
    wait "$rg" 2>/dev/null || true
  fi
  calls_created=$(sum_col "$d/caller-*.csv" TotalCallCreated)
  calls_ok=$(sum_col "$d/caller-*.csv" 'SuccessfulCall(C)')
  local failed_created
  failed_created=$(sum_col "$d/caller-*.csv" 'FailedCall(C)')
  calls_failed=$((failed_created + per * pairs - calls_created))
  dt_calls=$((dt_calls + calls_created)) dt_calls_failed=$((dt_calls_failed + failed_created))
  read -r setup_p50 setup_p99 < <(python3 - "$d" <<'PY'
import glob, sys
v = []
for f in glob.glob(sys.argv[1] + "/caller_*_rtt.csv"):
    for line in open(f):
        p = line.strip().split(";")
        if len(p) >= 2:
            try:
                v.append(float(p[1]))
            except ValueError:
                pass
v.sort()
q = lambda x: v[max(0, int(-(-x * len(v) // 1)) - 1)] if v else -1
print(f"{q(0.5):.1f} {q(0.99):.1f}")
PY
)
  sipp_cpu=$(awk -v t="$(cat "$d/sippcpu")" -v k="$tick" 'BEGIN{printf "%.2f", t/k}')
  rtpgen_cpu=$(awk -v t="$rgcpu" -v k="$tick" 'BEGIN{printf "%.2f", t/k}')
  cpu_ms=$(((c1 - c0) * 1000 / tick))
  rtp=$d/rtpgen.json
  marks=$d/marks.jsonl
}

# phase_sustain: SUSTAIN_RATE (300) calls/s of 2 s PCMA calls for SUSTAIN_SECS (60): failed calls
# and setup p99 (the target: none failed, p99 under 50 ms).
phase_sustain() {
  local total=$((sustain_rate * sustain_secs)) cap= pcap=$tmp/sustain.pcap
  profile "sustain-$sustain_rate" "$sustain_secs"
  if [ "$sip_hops" = 1 ]; then
    timeout $((sustain_secs + 300)) tcpdump -i lo -w "$pcap" -B 65536 -s 2000 "udp port $sip_port" 2>"$out/tcpdump-$sys-$run.log" &
    cap=$!
    sleep 1
    if ! kill -0 "$cap" 2>/dev/null; then
      log "$sys run $run: tcpdump did not start, no setup hops: $(tail -1 "$out/tcpdump-$sys-$run.log")"
      cap=
    fi
  fi
  calls "sustain-$sustain_rate" "$sustain_rate" "$total" "$hold_ms"
  if [ -n "$cap" ]; then
    kill "$cap" 2>/dev/null || true
    wait "$cap" 2>/dev/null || true
    local callers= callees= i
    for i in $(seq 0 $((pairs - 1))); do callers+="${callers:+,}$((25880 + i))" callees+="${callees:+,}$((25884 + i))"; done
    python3 bench/siphops.py "$pcap" "$sip_port" "$callers" "$callees" >"$out/sustain-$sustain_rate-$sys-$run/hops.txt" 2>&1 || true
    rm -f "$pcap"
    log "$sys run $run: setup time on the wire, by hop ($(grep -h dropped "$out/tcpdump-$sys-$run.log")): $(tr -s ' ' <"$out/sustain-$sustain_rate-$sys-$run/hops.txt" | tr '\n' ';')"
  fi
  snapshot "sustain-$sustain_rate"
  log "$sys run $run: $sustain_rate calls/s for ${sustain_secs}s: $calls_ok ok, $calls_failed failed of $total; setup p50 $setup_p50 ms, p99 $setup_p99 ms; server CPU $cpu_ms ms; media loss $(jq_py "$rtp" '["loss_pct"]')%; sipp CPU ${sipp_cpu}s, rtpgen ${rtpgen_cpu}s"
  record sustain_failed "$calls_failed"
  record sustain_p99_ms "$setup_p99"
  record sustain_cpu_ms $(awk -v c="$cpu_ms" -v n="$calls_ok" 'BEGIN{printf "%.3f", n ? c/n : -1}')
}

# phase_nomedia: calls without RTP (no generator; each caller hangs up as soon as it is answered)
# at each rate of NOMEDIA_LADDER for STEP_SECS: the highest rate at which every call succeeded,
# and the server's CPU per call at each rate.
phase_nomedia() {
  local best=0 rate total
  for rate in $nomedia_ladder; do
    total=$((rate * step_secs))
    profile "nomedia-$rate" "$step_secs"
    no_media=1 calls "nomedia-$rate" "$rate" "$total" 0
    local cpc
    cpc=$(awk -v c="$cpu_ms" -v n="$calls_ok" 'BEGIN{printf "%.3f", n ? c/n : -1}')
    log "$sys run $run: calls without media at ${rate}/s: $calls_ok ok, $calls_failed failed of $total; setup p50 $setup_p50 ms, p99 $setup_p99 ms; server CPU $cpc ms per call; sipp CPU ${sipp_cpu}s"
    record "nomedia_cpu_ms.$rate" "$cpc"
    if [ "$calls_failed" = 0 ] && [ "$calls_ok" = "$total" ]; then best=$rate; else break; fi
  done
  record nomedia_max_rate "$best"
}

jq_py() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d$2)" "$1"; }

phase_calls() {
  local total=$((100 * call_secs))
  profile calls-100 "$call_secs"
  calls calls-100 100 "$total" "$hold_ms"
  log "$sys run $run: calls at 100/s: $calls_ok ok, $calls_failed failed of $total; setup p50 $setup_p50 ms, p99 $setup_p99 ms; server CPU $cpu_ms ms; audio delivered $(jq_py "$rtp" '["loss_pct"]')% lost over $(jq_py "$rtp" '["streams"]') streams; sipp CPU ${sipp_cpu}s, rtpgen ${rtpgen_cpu}s"
  record call_cpu_ms $(awk -v c="$cpu_ms" -v n="$calls_ok" 'BEGIN{printf "%.3f", n ? c/n : -1}')
  record setup_p50_ms "$setup_p50"
  record setup_p99_ms "$setup_p99"
  record calls100_failed "$calls_failed"
  record calls100_audio_pct $(jq_py "$rtp" '["loss_pct"]' | awk '{printf "%.3f", 100-$1}')
  record sipp_cpu_s.calls100 "$sipp_cpu"
  record rtpgen_cpu_s.calls100 "$rtpgen_cpu"

  local best=0 rate
  for rate in $call_ladder; do
    total=$((rate * step_secs))
    calls "cps-$rate" "$rate" "$total" "$hold_ms"
    log "$sys run $run: calls at ${rate}/s: $calls_ok ok, $calls_failed failed of $total; setup p50 $setup_p50 ms, p99 $setup_p99 ms; media loss $(jq_py "$rtp" '["loss_pct"]')%; sipp CPU ${sipp_cpu}s"
    if awk -v f="$calls_failed" -v n="$total" -v p="$setup_p99" 'BEGIN{exit !(f <= n * 0.001 && p >= 0 && p <= 200)}'; then
      best=$rate
    else
      break
    fi
  done
  record call_max_rate "$best"
}

# concurrent_window DIR RTPGEN_PID: once every call is up, CPU, PSS and rtpgen's marks over the window.
concurrent_window() {
  local d=$1 rg=$2 c0 c1 sum=0 n=0 p
  sleep $((conc / conc_rate + 3))
  kill -USR1 "$rg"
  c0=$(server_ticks)
  profile concurrent "$window"
  for _ in $(seq "$window"); do
    sleep 1
    p=$(server_pss)
    sum=$((sum + p)) n=$((n + 1))
  done
  c1=$(server_ticks)
  kill -USR1 "$rg"
  snapshot concurrent
  local window_pss=$((sum / n)) steady=0
  if [ "$settle" -gt 0 ]; then
    # The last call was set up 3 + window seconds ago.
    [ $((settle - 3 - window)) -gt 0 ] && sleep $((settle - 3 - window))
    sum=0 n=0
    for _ in 1 2 3 4 5; do
      sleep 1
      p=$(server_pss)
      sum=$((sum + p)) n=$((n + 1))
    done
    steady=$((sum / n))
    snapshot steady
  fi
  echo "$((c1 - c0)) $window_pss $steady" >"$d/window"
}

phase_concurrent() {
  conc_rate=100
  local idle
  sleep 1
  idle=$(server_pss)
  snapshot idle
  local hold=$(((conc / conc_rate + 3 + window + 3) * 1000))
  if [ "$settle" -gt 0 ]; then hold=$(((conc / conc_rate + 3 + window + 3 + 5 + (settle > 3 + window ? settle - 3 - window : 0)) * 1000)); fi
  calls concurrent "$conc_rate" "$conc" "$hold" concurrent_window
  local d=$out/concurrent-$sys-$run ticks pss steady
  read -r ticks pss steady <"$d/window"
  python3 - "$marks" "$ticks" "$tick" "$pss" "$idle" "$conc" "$steady" >"$d/result" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
ticks, tick, pss, idle, conc = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
steady = int(sys.argv[7])
a, b = lines[0], lines[-1]
relayed = (b["echoed_total"] - a["echoed_total"]) + (b["received_total"] - a["received_total"])
live = b["streams_live"] or conc
us = ticks / tick * 1e6 / relayed if relayed else -1
print(f'{us:.3f} {b["delivered_pct"]:.3f} {b["jitter_p50_ms"]} {b["jitter_p99_ms"]} {(pss - idle) / live:.2f} {live} {relayed} {(steady - idle) / live if steady else -1:.2f}')
PY
  local us delivered j50 j99 kb live relayed kb_steady
  read -r us delivered j50 j99 kb live relayed kb_steady <"$d/result"
  log "$sys run $run: $conc concurrent ($live live in the window): relay CPU ${us} us per packet ($relayed relayed), audio delivered ${delivered}%, jitter p50 $j50 / p99 $j99 ms, ${kb} kB PSS per call (${kb_steady} kB once settled); $calls_ok ok, $calls_failed failed; sipp CPU ${sipp_cpu}s, rtpgen ${rtpgen_cpu}s"
  record relay_cpu_us "$us"
  record audio_pct "$delivered"
  record jitter_p50_ms "$j50"
  record jitter_p99_ms "$j99"
  record call_mem_kb "$kb"
  if [ "$settle" -gt 0 ]; then record call_mem_settled_kb "$kb_steady"; fi
  record concurrent_failed "$calls_failed"
  record sipp_cpu_s.concurrent "$sipp_cpu"
  record rtpgen_cpu_s.concurrent "$rtpgen_cpu"
}

# answered DIR: how many calls of DIR its callers saw answered (they log each for rtpgen, at once).
answered() { cat "$1"/media-*.log 2>/dev/null | grep -c "rtpgen start" || true; }

# drain_window DIR: once the drain phase's calls are answered (at most 60 s after the last should
# have been), the server terminated; how many were answered when it stopped answering, how long
# it took and how it ended.
drain_window() {
  local d=$1 ended
  sleep $((drain_calls / 100))
  for _ in $(seq 600); do
    [ "$(answered "$d")" -ge "$drain_calls" ] && break
    sleep 0.1
  done
  ended=$(terminate "$dpid" 120)
  echo "$(answered "$d") $ended" >"$d/drain"
}

# phase_drain: Dialtone only. DRAIN_CALLS calls with PCMA held until the server, sent SIGTERM once
# they are answered, hangs them up: the time it took to exit, and the callers and callees of answered
# calls that got no BYE (one still ringing gets 487 and its callee CANCEL); the audit then checks
# every record was finished with its call.ended. The server is stopped.
phase_drain() {
  [ "$sys" = dialtone ] || return 0
  # (A long hold: the callers' and callees' sipps wait that long for the BYE.)
  caller_sf=caller-bye.xml calls drain 100 "$drain_calls" 300000 drain_window
  local d=$out/drain-$sys-$run up secs state
  read -r up secs state <"$d/drain"
  dt_exited=1 dt_drained=$up
  local byes_caller byes_callee
  byes_caller=$(sum_col "$d/caller-*.csv" 'SuccessfulCall(C)')
  byes_callee=$(sum_col "$d/callee-*.csv" 'SuccessfulCall(C)')
  log "$sys run $run: drain: SIGTERM with $up calls answered ($calls_created made); the server $state after ${secs}s; callers that got its BYE: $byes_caller, callees: $byes_callee"
  record drain_secs "$secs"
  record drain_bye_missing $((2 * up - byes_caller - byes_callee))
}

# --- main ----------------------------------------------------------------------------------------

bench/peer/peer.sh install
command -v sipp >/dev/null || { [ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sip-tester >/dev/null; }
log "results in $out; load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores$(pgrep -f '\.ci/run' >/dev/null && echo ' (CI is running: numbers will be noisy)')"
if [ -n "${BIN:-}" ]; then cp "$BIN" "$tmp/dialtone"; else go build -o "$tmp/dialtone" ./cmd/dialtone; fi
go build -o "$tmp/rtpgen" ./bench/rtpgen
write_scenarios
bench/peer/peer.sh users "$tmp" "$first_user" "$n_users"
mv "$tmp/db" "$tmp/peer-db"
case " $systems " in *" dialtone "*) sys=dialtone run=0 provision_dialtone ;; esac
t_start=$(now)
for run in $(seq 1 "$runs"); do
  for sys in $systems; do
    log "== $sys, run $run of $runs"
    # Registrations, then calls on a fresh server: memory per call is measured from a server that
    # has not yet held anything, before the call-rate phases.
    if has_phase reg; then
      start_server
      phase_registrations
      stop_server
    fi
    if has_phase concurrent || has_phase calls || has_phase sustain || has_phase nomedia || has_phase drain; then
      start_server
      register_callees
      if has_phase concurrent; then phase_concurrent; fi
      if has_phase calls; then phase_calls; fi
      if has_phase sustain; then phase_sustain; fi
      if has_phase nomedia; then phase_nomedia; fi
      if has_phase drain; then phase_drain; fi
      stop_server
    fi
  done
done
log "done in $(awk -v s="$t_start" -v e="$(now)" 'BEGIN{printf "%.0f", e-s}') s"

python3 - "$raw" "$out" "$quick" "$runs" "$conc" "$sustain_rate" "$sustain_secs" <<'PY'
import json, statistics, sys
raw, out, quick, runs, conc = sys.argv[1], sys.argv[2], sys.argv[3] == "1", int(sys.argv[4]), sys.argv[5]
srate, ssecs = sys.argv[6], sys.argv[7]
vals = {}
for line in open(raw):
    s, r, m, v = line.split()
    vals.setdefault(m, {}).setdefault(s, []).append(float(v))
rows = [
    ("call_max_rate", "highest clean call rate (2 s PCMA calls; <=0.1% failed, setup p99 <= 200 ms)", "calls/s", True),
    ("call_cpu_ms", "CPU per call at 100 calls/s, setup to teardown", "ms", False),
    ("setup_p50_ms", "setup time p50 at 100 calls/s", "ms", False),
    ("setup_p99_ms", "setup time p99 at 100 calls/s", "ms", False),
    ("relay_cpu_us", f"relay CPU per relayed packet at {conc} concurrent calls", "us", False),
    ("audio_pct", f"audio delivered end to end at {conc} concurrent calls", "%", True),
    ("jitter_p99_ms", f"RFC 3550 jitter p99 (round trip, two relay passes) at {conc} concurrent calls", "ms", False),
    ("call_mem_kb", "memory (PSS) per live call", "KB", False),
    ("call_mem_settled_kb", "memory (PSS) per live call once its INVITE transactions ended (64*T1 after setup)", "KB", False),
    ("reg_new_cpu_ms", "CPU per new authenticated REGISTER (10,000 users)", "ms", False),
    ("rereg_cpu_ms", "CPU per re-REGISTER at 2,000/s", "ms", False),
    ("reg_max_rate", "highest REGISTER rate with 0 failures", "/s", True),
    ("reg_mem_kb", "memory (PSS) per registration", "KB", False),
    ("sustain_failed", f"failed calls of {srate} calls/s for {ssecs} s (2 s PCMA calls)", "", False),
    ("sustain_p99_ms", f"setup time p99 at {srate} calls/s", "ms", False),
    ("sustain_cpu_ms", f"CPU per call at {srate} calls/s", "ms", False),
    ("nomedia_max_rate", "highest rate of calls without media with 0 failed", "calls/s", True),
]
med = lambda xs: statistics.median(xs) if xs else None
fmt = lambda x: "-" if x is None else (f"{x:.4g}" if abs(x) < 1000 else f"{x:,.0f}")
md = [f"# Dialtone vs Kamailio 5.6 + rtpengine (userspace), loopback, {'QUICK, ' if quick else ''}medians of {runs} interleaved run(s)", "",
      "| metric | Kamailio + rtpengine | Dialtone | Dialtone / peer |", "|---|---|---|---|"]
table = []
for key, label, unit, higher in rows:
    p, d = med(vals.get(key, {}).get("peer", [])), med(vals.get(key, {}).get("dialtone", []))
    ratio = d / p if p and d is not None else None
    md.append(f"| {label} | {fmt(p)} {unit} | {fmt(d)} {unit} | {'-' if ratio is None else f'{ratio:.2f}x'}{' (higher is better)' if higher else ''} |")
    table.append({"metric": key, "label": label, "unit": unit, "higher_is_better": higher, "peer": p, "dialtone": d, "ratio": ratio,
                  "runs": vals.get(key, {})})
md += ["", "Failures and load-generator CPU (medians):", "", "| | Kamailio + rtpengine | Dialtone |", "|---|---|---|"]
for key in sorted(k for k in vals if k.endswith("_failed") or k.startswith(("sipp_cpu_s.", "rtpgen_cpu_s.", "calls100_audio", "nomedia_cpu_ms.", "audit_", "drain_"))):
    md.append(f"| {key} | {fmt(med(vals[key].get('peer', [])))} | {fmt(med(vals[key].get('dialtone', [])))} |")
md += ["", "CPU is utime+stime of the server processes only (every Kamailio process plus rtpengine; Dialtone) from /proc;",
       "memory is PSS. sipp_cpu_s / rtpgen_cpu_s are the load generators' own CPU seconds per phase. Raw values per run: compare.json."]
open(out + "/compare.md", "w").write("\n".join(md) + "\n")
json.dump({"quick": quick, "runs": runs, "rows": table, "all": vals}, open(out + "/compare.json", "w"), indent=2)
print("\n".join(md))
PY
echo "results in $out"
