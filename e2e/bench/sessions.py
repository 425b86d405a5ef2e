#!/usr/bin/env python3
"""Simulated tracer sessions for probe memory and throughput measurements.

Opens N connections to a probe on 127.0.0.1, sends a hello and a number of
event batches on each in the wire format (4-byte big-endian length, JSON
body), waits until the probe has acknowledged every event, and holds all
connections open until the last session is acknowledged. Prints one JSON
object: sessions, events, seconds, events_per_second.
"""

import argparse
import json
import selectors
import socket
import struct
import sys
import time


def frame(message):
    body = json.dumps(message, separators=(",", ":")).encode()
    return struct.pack(">I", len(body)) + body


def sample_event(pid, index):
    return {
        "type": "open",
        "timestamp": "2026-01-01T00:00:00.000000Z",
        "process": {"pid": pid, "tid": pid, "ppid": 1, "uid": 0, "gid": 0, "euid": 0, "egid": 0,
                    "comm": "bench", "file": {"path": "/usr/bin/bench", "name": "bench"},
                    "argv": ["bench"], "cwd": "/", "container": {"id": ""}},
        "open": {"file": {"path": f"/var/lib/bench/file{index % 64}",
                          "name": f"file{index % 64}"},
                 "flags": 0, "mode": 0, "retval": 3},
    }


class Session:
    def __init__(self, index, port, events, batch):
        self.index = index
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setblocking(False)
        self.events = events
        self.batch = batch
        self.acked = 0
        self.buffer = b""
        self.outgoing = bytearray(frame({
            "msg": "hello", "version": 1, "session_id": f"bench-{index}", "mode": "wrap",
            "hostname": "bench", "container_id": "", "pid_ns": 0, "entrypoint": ["bench"]}))
        pid = 10_000 + index
        for start in range(1, events + 1, batch):
            end = min(start + batch, events + 1)
            self.outgoing += frame({"msg": "events", "events": [
                {"seq": seq, "event": sample_event(pid, seq)} for seq in range(start, end)]})

    def on_readable(self):
        data = self.sock.recv(65536)
        if not data:
            raise RuntimeError(f"probe closed session {self.index}")
        self.buffer += data
        while len(self.buffer) >= 4:
            length = struct.unpack(">I", self.buffer[:4])[0]
            if len(self.buffer) < 4 + length:
                break
            message = json.loads(self.buffer[4:4 + length])
            self.buffer = self.buffer[4 + length:]
            if message.get("msg") == "welcome" and not message.get("accepted"):
                raise RuntimeError(f"session {self.index} rejected: {message.get('reason')}")
            if message.get("msg") == "ack":
                self.acked = max(self.acked, message["seq"])

    def on_writable(self):
        sent = self.sock.send(self.outgoing)
        del self.outgoing[:sent]

    def done(self):
        return self.acked >= self.events


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sessions", type=int, default=1)
    parser.add_argument("--events", type=int, default=100, help="events per session")
    parser.add_argument("--batch", type=int, default=50, help="events per frame")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()

    selector = selectors.DefaultSelector()
    sessions = [Session(index, args.port, args.events, args.batch)
                for index in range(args.sessions)]
    start = time.monotonic()
    for session in sessions:
        selector.register(session.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, session)
    while not all(session.done() for session in sessions):
        if time.monotonic() - start > args.timeout:
            sys.exit(f"timed out: {sum(s.done() for s in sessions)} of {len(sessions)} done")
        for key, mask in selector.select(timeout=1):
            session = key.data
            if mask & selectors.EVENT_READ:
                session.on_readable()
            if mask & selectors.EVENT_WRITE and session.outgoing:
                session.on_writable()
            if not session.outgoing:
                selector.modify(session.sock, selectors.EVENT_READ, session)
    elapsed = time.monotonic() - start
    total = args.sessions * args.events
    print(json.dumps({"sessions": args.sessions, "events": total, "seconds": elapsed,
                      "events_per_second": total / elapsed}))
    for session in sessions:
        session.sock.close()


if __name__ == "__main__":
    main()
