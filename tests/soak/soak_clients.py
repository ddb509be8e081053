#!/usr/bin/env python3
"""tests/soak/soak_clients.py - the clients of a soak run, for one server.

    soak_clients.py {echo|http|chat} PORT SECONDS

Runs four kinds of client against the server on 127.0.0.1:PORT for SECONDS,
each kind on its own threads, each client a fresh connection:
  well-behaved  does the server's job correctly and checks every answer
                (echo: random sizes echoed byte for byte; http: keep-alive
                GETs and /echo POSTs; chat: a sender's lines all reach a
                reader, in order);
  slow          connects and trickles or sits (echo: a byte every second;
                http: half a request head, then nothing; chat: never reads);
  resetting     sends part of a request and closes with a reset (SO_LINGER 0);
  malformed     sends what the protocol forbids (echo: random binary, which is
                fine for echo; http: a garbage request line; chat: a line longer
                than the server's limit).
Only well-behaved clients count errors: a wrong or missing answer, a refused
connection or a timeout. Whatever the server does to the others (408, drop,
reset) is its right. Prints one line per kind and a last line
    SOAK server=echo connections=N good_ops=N good_errors=E slow=N resets=N malformed=N
and exits 0 only if good_errors is 0 and good_ops > 0.
Standard library only.
"""
import os
import random
import socket
import struct
import sys
import threading
import time

HOST = "127.0.0.1"
TIMEOUT = 20.0  # a well-behaved client's bound on any one answer


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {"good_ops": 0, "good_errors": 0, "slow": 0, "resets": 0, "malformed": 0,
                       "connections": 0}
        self.first_errors = []

    def add(self, key, n=1):
        with self.lock:
            self.counts[key] += n

    def error(self, what):
        with self.lock:
            self.counts["good_errors"] += 1
            if len(self.first_errors) < 10:
                self.first_errors.append(what)


STATS = None  # the run's Stats, for connect() to count connections


def connect(port, timeout=TIMEOUT):
    s = socket.create_connection((HOST, port), timeout=timeout)
    if STATS is not None:
        STATS.add("connections")
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def reset_close(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def recv_exactly(s, n):
    out = bytearray()
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise EOFError("end of stream after %d of %d bytes" % (len(out), n))
        out += chunk
    return bytes(out)


# ---- echo -------------------------------------------------------------------------------

def echo_good(port, st, rng):
    with connect(port) as s:
        for _ in range(rng.randint(1, 50)):
            data = os.urandom(rng.randint(1, 4096))
            s.sendall(data)
            if recv_exactly(s, len(data)) != data:
                raise ValueError("echo differs")
            st.add("good_ops")
        s.shutdown(socket.SHUT_WR)
        if s.recv(1) != b"":
            raise ValueError("bytes after the echo")


def echo_slow(port, st, rng, stop):
    with connect(port) as s:
        for _ in range(rng.randint(5, 20)):
            if stop.is_set():
                break
            s.sendall(b"x")
            recv_exactly(s, 1)
            time.sleep(1.0)
    st.add("slow")


def echo_reset(port, st, rng):
    s = connect(port)
    s.sendall(os.urandom(rng.randint(1, 2048)))
    reset_close(s)
    st.add("resets")


def echo_malformed(port, st, rng):
    data = os.urandom(rng.randint(1, 65536))
    with connect(port) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        got = bytearray()
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    st.add("malformed")


# ---- http -------------------------------------------------------------------------------

def http_read_response(f):
    """Status and body of one response from a socket's file object."""
    line = f.readline()
    if not line:
        raise EOFError("no status line")
    parts = line.decode("latin-1").split(" ", 2)
    status = int(parts[1])
    length = 0
    while True:
        h = f.readline()
        if not h:
            raise EOFError("end of stream in the head")
        if h in (b"\r\n", b"\n"):
            break
        name, _, value = h.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    body = f.read(length) if length else b""
    if len(body) != length:
        raise EOFError("short body")
    return status, body


def http_good(port, st, rng):
    with connect(port) as s:
        f = s.makefile("rb")
        for _ in range(rng.randint(1, 20)):
            if rng.random() < 0.5:
                s.sendall(b"GET / HTTP/1.1\r\nHost: soak\r\n\r\n")
                status, body = http_read_response(f)
                if status != 200 or not body:
                    raise ValueError("GET / gave %d" % status)
            else:
                data = os.urandom(rng.randint(0, 8192))
                s.sendall(b"POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Length: %d\r\n\r\n"
                          % len(data) + data)
                status, body = http_read_response(f)
                if status != 200 or body != data:
                    raise ValueError("POST /echo gave %d (%d bytes)" % (status, len(body)))
            st.add("good_ops")
        f.close()


def http_slow(port, st, rng, stop):
    with connect(port, timeout=30.0) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # half a head, then nothing
        try:
            while s.recv(4096):  # until the server gives up on us (408) or the stop
                pass
        except OSError:
            pass
    st.add("slow")


def http_reset(port, st, rng):
    s = connect(port)
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" +
              os.urandom(rng.randint(0, 4096)))
    reset_close(s)
    st.add("resets")


def http_malformed(port, st, rng):
    junk = rng.choice([b"BLAH\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", os.urandom(200) + b"\r\n\r\n",
                       b"GET / HTTP/1.1\r\nContent-Length: -5\r\n\r\n"])
    with connect(port) as s:
        s.sendall(junk)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
    st.add("malformed")


# ---- chat -------------------------------------------------------------------------------

def chat_welcome(f):
    """Reads up to the welcome line; returns the client's name."""
    while True:
        line = f.readline()
        if not line:
            raise EOFError("no welcome")
        text = line.decode("utf-8", "replace")
        if text.startswith("* welcome, you are "):
            return text[len("* welcome, you are "):].split(" ")[0]


def chat_good(port, st, rng):
    """A sender's lines all reach a reader that keeps up, in order."""
    n = rng.randint(10, 100)
    tag = "%08x" % rng.getrandbits(32)
    with connect(port) as reader, connect(port) as sender:
        rf = reader.makefile("rb")
        sf = sender.makefile("rb")
        chat_welcome(rf)
        name = chat_welcome(sf)
        lines = b"".join(b"%s %d %s\n" % (tag.encode(), k, b"y" * rng.randint(0, 200))
                         for k in range(n))
        sender.sendall(lines)
        want = 0
        prefix = "%s: %s " % (name, tag)
        while want < n:
            line = rf.readline()
            if not line:
                raise EOFError("reader: end of stream after %d of %d lines" % (want, n))
            text = line.decode("utf-8", "replace")
            if text.startswith("* you were dropped"):
                raise ValueError("a reader that keeps up was dropped: " + text.strip())
            if text.startswith(prefix):
                k = int(text[len(prefix):].split(" ")[0])
                if k != want:
                    raise ValueError("line %d came when %d was due" % (k, want))
                want += 1
        st.add("good_ops", n)
        rf.close()
        sf.close()


def chat_slow(port, st, rng, stop):
    with connect(port, timeout=30.0) as s:  # never reads
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stop.wait(rng.uniform(5.0, 20.0))
    st.add("slow")


def chat_reset(port, st, rng):
    s = connect(port)
    s.sendall(b"half a line with no end")
    reset_close(s)
    st.add("resets")


def chat_malformed(port, st, rng):
    with connect(port) as s:
        try:
            s.sendall(b"z" * 5000 + b"\n")  # longer than --max-line (1024 by default)
            while s.recv(4096):
                pass
        except OSError:
            pass
    st.add("malformed")


KINDS = {
    "echo": (echo_good, echo_slow, echo_reset, echo_malformed),
    "http": (http_good, http_slow, http_reset, http_malformed),
    "chat": (chat_good, chat_slow, chat_reset, chat_malformed),
}
THREADS = {"good": 6, "slow": 4, "reset": 2, "malformed": 2}


def worker(kind, fn, port, st, stop, seed):
    rng = random.Random(seed)
    while not stop.is_set():
        try:
            if kind == "slow":
                fn(port, st, rng, stop)
            else:
                fn(port, st, rng)
        except Exception as e:  # noqa: BLE001 - every failure of a good client is counted
            if kind == "good" and not stop.is_set():
                st.error("%s: %r" % (fn.__name__, e))
        if kind in ("reset", "malformed"):
            stop.wait(0.2)


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in KINDS:
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    server, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    good, slow, reset, malformed = KINDS[server]
    global STATS
    st, stop = Stats(), threading.Event()
    STATS = st
    threads = []
    seed = 1
    for kind, fn in (("good", good), ("slow", slow), ("reset", reset), ("malformed", malformed)):
        for _ in range(THREADS[kind]):
            t = threading.Thread(target=worker, args=(kind, fn, port, st, stop, seed), daemon=True)
            seed += 1
            t.start()
            threads.append(t)
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(TIMEOUT + 40)
    c = st.counts
    for e in st.first_errors:
        print("soak_clients: %s: %s" % (server, e), file=sys.stderr)
    print("SOAK server=%s connections=%d good_ops=%d good_errors=%d slow=%d resets=%d "
          "malformed=%d" % (server, c["connections"], c["good_ops"], c["good_errors"], c["slow"],
                            c["resets"], c["malformed"]), flush=True)
    return 0 if c["good_errors"] == 0 and c["good_ops"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
