#!/usr/bin/env python3
"""Split call setup time into its hops, from a capture of the server's SIP port.

    siphops.py CAPTURE.pcap SERVER_PORT CALLER_PORTS CALLEE_PORTS

CALLER_PORTS and CALLEE_PORTS are the sipps' SIP ports, comma-separated. The capture
(tcpdump -w, on loopback) timestamps each datagram as it is sent, so the hops are what
each side took, measured outside both:

  challenge   the caller's first INVITE -> the server's 407
  caller      the 407 -> the caller's INVITE with credentials (the load generator)
  server in   the INVITE with credentials -> the server's INVITE to the callee
  callee      that INVITE -> the callee's 200 (the load generator)
  server out  the callee's 200 -> the server's 200 to the caller
  total       the caller's first INVITE -> the 200 it gets (sipp's setup time, on the wire)

A callee leg belongs to the caller's call with the same Call-ID (a proxy keeps it) or, for a
B2BUA, to the one whose caller is in its From and that is waiting for its answer.
Prints one line per hop with p50/p90/p99/max in ms, and the number of calls matched.
"""
import bisect
import collections
import re
import struct
import sys

# Link-layer header length by pcap link type: BSD loopback, Ethernet (Linux lo), raw IP, Linux
# cooked v1 and v2.
LINK_OFFSET = {0: 4, 1: 14, 12: 0, 101: 0, 113: 16, 276: 20}


def datagrams(path):
    """(time, source port, destination port, payload) of each UDP/IPv4 datagram."""
    with open(path, "rb") as f:
        head = f.read(24)
        if len(head) < 24:
            sys.exit(f"{path}: no capture (is tcpdump installed, and run as root?)")
        magic = struct.unpack("<I", head[:4])[0]
        if magic not in (0xA1B2C3D4, 0xA1B23C4D, 0xD4C3B2A1, 0x4D3CB2A1):
            sys.exit(f"{path}: not a pcap file (pcapng is not read)")
        order = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        scale = 1e-9 if magic in (0xA1B23C4D, 0x4D3CB2A1) else 1e-6
        link = struct.unpack(order + "I", head[20:24])[0]
        if link not in LINK_OFFSET:
            sys.exit(f"{path}: link type {link} is not read")
        off = LINK_OFFSET[link]
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            sec, frac, incl, _ = struct.unpack(order + "IIII", rec)
            data = f.read(incl)
            ip = data[off:]
            if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
                continue
            ihl = (ip[0] & 15) * 4
            sport, dport = struct.unpack(">HH", ip[ihl:ihl + 4])
            yield sec + frac * scale, sport, dport, ip[ihl + 8:].decode("latin1")


CALL_ID = re.compile(r"\r\n(?:Call-ID|i)\s*:\s*([^\r]+)", re.I)
CSEQ = re.compile(r"\r\nCSeq\s*:\s*(\d+)\s+(\w+)", re.I)
FROM_USER = re.compile(r"\r\n(?:From|f)\s*:[^\r]*?<?sips?:([^@;>\r]+)@", re.I)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


def main():
    path, server = sys.argv[1], int(sys.argv[2])
    callers = {int(p) for p in sys.argv[3].split(",")}
    callees = {int(p) for p in sys.argv[4].split(",")}
    calls = collections.defaultdict(dict)  # caller Call-ID -> event -> time
    legs = collections.defaultdict(dict)  # callee Call-ID -> event -> time
    for t, sport, dport, text in datagrams(path):
        far = dport if sport == server else sport
        first = text.split("\r\n", 1)[0]
        cid, cseq = CALL_ID.search(text), CSEQ.search(text)
        if not cid or not cseq or cseq.group(2).upper() != "INVITE":
            continue
        what = first.split(" ")[1] if first.startswith("SIP/") else first.split(" ")[0]
        sent = "out" if sport == server else "in"
        if far in callers:
            c = calls[cid.group(1)]
            n = int(cseq.group(1))
            if what == "INVITE" and sent == "in":
                if "cseq" not in c:
                    c["cseq"], c["first"] = n, t
                elif n > c["cseq"]:
                    c.setdefault("auth", t)  # not its retransmissions
            elif what in ("407", "200") and sent == "out":
                c.setdefault(what, t)
            m = FROM_USER.search(text)
            if m:
                c.setdefault("user", m.group(1))
        elif far in callees:
            leg = legs[cid.group(1)]
            if what == "INVITE" and sent == "out":
                leg.setdefault("invite", t)
                m = FROM_USER.search(text)
                if m:
                    leg.setdefault("user", m.group(1))
            elif what == "200" and sent == "in":
                leg.setdefault("200", t)
    # A B2BUA gives the callee leg a Call-ID of its own: a call takes the leg from its caller that
    # answered last before the call's own 200 went out and was sent after the call's INVITE with
    # credentials came in, each leg going to one call only, the calls taken in the order of their
    # 200s (the server passes the callee's 200 on at once).
    by_user = collections.defaultdict(list)
    for leg in legs.values():
        if "invite" in leg and "200" in leg:
            by_user[leg.get("user")].append(leg)
    for lst in by_user.values():
        lst.sort(key=lambda leg: leg["200"])
    answers = {u: [leg["200"] for leg in lst] for u, lst in by_user.items()}
    taken = set()
    hops = collections.defaultdict(list)
    done = [(cid, c) for cid, c in calls.items() if all(k in c for k in ("first", "407", "auth", "200"))]
    for cid, c in sorted(done, key=lambda x: x[1]["200"]):
        leg = legs.get(cid)
        if not leg or "200" not in leg or "invite" not in leg:
            leg = None
            lst = by_user.get(c.get("user"), [])
            i = bisect.bisect_right(answers.get(c.get("user"), []), c["200"]) - 1
            while i >= 0 and lst[i]["200"] >= c["auth"]:
                if id(lst[i]) not in taken and lst[i]["invite"] >= c["auth"]:
                    leg = lst[i]
                    break
                i -= 1
        if not leg:
            continue
        taken.add(id(leg))
        for name, a, b in (("challenge", c["first"], c["407"]), ("caller", c["407"], c["auth"]),
                           ("server in", c["auth"], leg["invite"]), ("callee", leg["invite"], leg["200"]),
                           ("server out", leg["200"], c["200"]), ("total", c["first"], c["200"])):
            hops[name].append((b - a) * 1e3)
    print(f"calls matched: {len(hops['total'])} of {len(calls)}")
    for name in ("challenge", "caller", "server in", "callee", "server out", "total"):
        v = hops[name]
        print(f"{name:10s} p50 {pct(v, .5):7.2f}  p90 {pct(v, .9):7.2f}  p99 {pct(v, .99):7.2f}  max {max(v, default=float('nan')):7.1f} ms")


if __name__ == "__main__":
    main()
