#!/usr/bin/env python3
"""tests/bench/http_flood.py - http_server under a flood of idle, half-sent requests.

    tests/bench/http_flood.py [--connections N] [--gets K] [--exe PATH]

Starts examples/http_server (default: the mingw-release build) under Wine, measures its
private memory, opens N connections (default 5,000) that each send half a request head
(`GET / HTTP/1.1\\r\\nHost: x\\r\\n`) and then nothing, waits for the server's memory to
settle, then times K (default 20) normal GETs on fresh connections, one after another,
while the N are still held. Prints the GET latencies (median, max), the cost per waiting
connection (private bytes: Private_Clean + Private_Dirty of /proc/<pid>/smaps_rollup,
before and after), and checks that the N are still open and unanswered. Exits 0 if every
GET got a 200 within 1 s. A benchmark, not a test: its figures go to README by hand, with
the date of the run.
"""
import argparse
import os
import resource
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HALF = b"GET / HTTP/1.1\r\nHost: x\r\n"
GET = b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"


def private_kb(pid):
    total = 0
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    return total


def settled_kb(pid, tolerance=0.005, limit_s=30):
    last, start = private_kb(pid), time.time()
    while time.time() - start < limit_s:
        time.sleep(1)
        now = private_kb(pid)
        if abs(now - last) <= tolerance * max(last, 1):
            return now
        last = now
    return last


def timed_get(port):
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(GET)
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    ms = (time.perf_counter() - t0) * 1000
    return ms, data.split(b"\r\n", 1)[0].decode("latin-1", "replace")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    ap.add_argument("--connections", type=int, default=5000)
    ap.add_argument("--gets", type=int, default=20)
    ap.add_argument("--exe", default=os.path.join(ROOT, "build/mingw-release/examples/http_server.exe"))
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if a.connections + 100 > hard:
        sys.exit("http_flood: ulimit -n %d is too low for %d connections" % (hard, a.connections))
    if not os.path.exists(a.exe):
        sys.exit("http_flood: %s not built (cmake --preset mingw-release && "
                 "cmake --build --preset mingw-release --target http_server)" % a.exe)

    srv = subprocess.Popen([os.path.join(ROOT, "cmake/wine-run.sh"), a.exe, "--port", "0"],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = srv.stdout.readline().decode().strip()
    if not first.startswith("listening on "):
        sys.exit("http_flood: server did not start: %r" % first)
    port = int(first.rsplit(":", 1)[1])
    ok = True
    try:
        ms, status = timed_get(port)  # warm: the first request of a process
        base = settled_kb(srv.pid)
        t0 = time.perf_counter()
        held = []
        for _ in range(a.connections):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(HALF)
            held.append(s)
        opened_ms = (time.perf_counter() - t0) * 1000
        ms, status = timed_get(port)  # the server has every flood connection after this one
        flood = settled_kb(srv.pid)
        times = []
        for _ in range(a.gets):
            ms, status = timed_get(port)
            times.append(ms)
            if not status.startswith("HTTP/1.1 200"):
                print("http_flood: GET gave %r" % status)
                ok = False
        for s in held:  # still open and unanswered: a recv would block
            s.setblocking(False)
        answered = 0
        for s in held:
            try:
                if s.recv(1) is not None:
                    answered += 1
            except BlockingIOError:
                pass
            except OSError:
                answered += 1
        times.sort()
        med, worst = times[len(times) // 2], times[-1]
        per_conn = (flood - base) * 1024 / a.connections
        print("http_flood: %d half-sent heads opened in %.0f ms; %d of them answered or closed "
              "meanwhile" % (a.connections, opened_ms, answered))
        print("http_flood: %d GETs while they wait: median %.1f ms, max %.1f ms" %
              (a.gets, med, worst))
        print("http_flood: private memory %d KB before, %d KB with the flood: %.0f bytes per "
              "waiting connection" % (base, flood, per_conn))
        if worst >= 1000 or answered:
            ok = False
        for s in held:
            s.close()
    finally:
        srv.stdin.close()
        try:
            rc = srv.wait(60)
        except subprocess.TimeoutExpired:
            srv.kill()
            rc = -1
    print("http_flood: server exit %d; %s" % (rc, "OK" if ok and rc == 0 else "FAILED"))
    return 0 if ok and rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
