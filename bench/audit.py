#!/usr/bin/env python3
"""Checks what a Dialtone server kept of the calls a bench made, once it has stopped.

    audit.py DB CALLS CALLS_FAILED [DRAINED]

DB is the server's SQLite file (dialtone.db in its data directory), read after the server exited;
CALLS is how many calls the load generator created while that server ran, CALLS_FAILED how many of
them failed. Nothing may be lost, whatever the load:
  - one call record per call: no two records of one SIP Call-ID, and exactly CALLS records when
    no call failed (a call refused before its INVITE with credentials left none, so with failures
    the count may be lower, never higher);
  - every record finished (ended_at set);
  - every record's call.created and call.ended events, and for every answered call call.ringing
    (the bench's callees always ring first) and call.answered, each once and in that order.
It also counts the records by hangup cause: in the bench every party sends media or hangs up
itself, so a call the PBX ended for want of media (media_timeout), or that was still up when it
was stopped (shutdown) once the load was over, was one it kept after the parties had left
(stale_calls). DRAINED is how many calls were stopped on purpose (the drain phase): they are not.
Prints one JSON object; the exit status is 1 when something was lost, 2 when DB cannot be read.
"""
import json
import sqlite3
import sys

REQUIRED = ("call.created", "call.ended")
ANSWERED = ("call.ringing", "call.answered")


def audit(path, calls, failed, drained=0):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    records = db.execute("SELECT id, answered_at IS NOT NULL, ended_at IS NOT NULL FROM call_records").fetchall()
    causes = dict(db.execute("SELECT hangup_cause, count(*) FROM call_records GROUP BY hangup_cause").fetchall())
    distinct = db.execute("SELECT count(DISTINCT sip_call_id) FROM call_records").fetchone()[0]
    types = {}
    for key, kind in db.execute("SELECT order_key, type FROM events WHERE order_key LIKE 'call:%' ORDER BY seq"):
        types.setdefault(key[5:], []).append(kind)
    missing = {t: 0 for t in REQUIRED + ANSWERED}
    unfinished = out_of_order = 0
    order = ("call.created",) + ANSWERED + ("call.ended",)
    for rid, answered, ended in records:
        have = types.pop(rid, [])
        for t in REQUIRED + (ANSWERED if answered else ()):
            if t not in have:
                missing[t] += 1
        seen = [t for t in have if t in order]
        if seen != sorted(seen, key=order.index) or len(seen) != len(set(seen)):
            out_of_order += 1
        unfinished += not ended
    n = len(records)
    res = {
        "calls": calls,
        "calls_failed": failed,
        "records": n,
        "answered": sum(1 for r in records if r[1]),
        "duplicate_records": n - distinct,
        "records_missing": max(0, calls - n) if failed == 0 else 0,
        "records_extra": max(0, n - calls),
        "unfinished": unfinished,
        "events_missing": missing,
        "events_out_of_order": out_of_order,
        "events_of_no_record": sum(len(v) for v in types.values()),
        "hangup_causes": causes,
        "stale_calls": causes.get("media_timeout", 0) + max(0, causes.get("shutdown", 0) - drained),
    }
    res["lost"] = (res["duplicate_records"] + res["records_missing"] + res["records_extra"] + unfinished +
                   sum(missing.values()) + out_of_order + res["events_of_no_record"])
    return res


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    try:
        res = audit(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) == 5 else 0)
    except sqlite3.Error as e:
        print(json.dumps({"error": f"{sys.argv[1]}: {e}"}))
        sys.exit(2)
    print(json.dumps(res))
    sys.exit(1 if res["lost"] else 0)


if __name__ == "__main__":
    main()
