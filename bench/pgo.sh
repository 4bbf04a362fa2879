#!/usr/bin/env bash
# Regenerates cmd/dialtone/default.pgo, the CPU profile `go build` uses for profile-guided
# optimisation of the server: one QUICK run of bench/compare.sh against Dialtone alone with
# PPROF=1 (registrations, concurrent calls, calls at 100/s, the sustained and no-media call rates),
# its per-phase CPU profiles merged into one. Loopback only; about 3 minutes. Rebuild and compare
# with `BIN=... bench/compare.sh` before committing a new profile.
set -euo pipefail
cd "$(dirname "$0")/.."
before=$(ls -d bench/results/*/ 2>/dev/null | sort | tail -1 || true)
SYSTEMS=dialtone QUICK=1 PPROF=1 CALL_SECS=${CALL_SECS:-15} SUSTAIN_SECS=${SUSTAIN_SECS:-10} \
  NOMEDIA_LADDER=${NOMEDIA_LADDER:-500} STEP_SECS=${STEP_SECS:-8} CALL_LADDER=" " bench/compare.sh >/dev/null
run=$(ls -d bench/results/*/ | sort | tail -1)
[ "$run" != "$before" ] || { echo "no new results" >&2; exit 1; }
profiles=("$run"dialtone-1-*.cpu.pprof)
[ -s "${profiles[0]}" ] || { echo "no profiles in $run" >&2; exit 1; }
go tool pprof -proto "${profiles[@]}" >cmd/dialtone/default.pgo
echo "cmd/dialtone/default.pgo from ${#profiles[@]} profiles in $run"
