#!/usr/bin/env python3
"""Helpers of bench/proxy.sh, standard library only.

  origin --port P --stats FILE [ignored ComfyUI flags]
      A fast origin for the bulk figures, started by comfyctl in place of ComfyUI: it answers
      GET /system_stats (so comfyctl sees it ready), GET /fake/bytes?n=N and POST /fake/sink like the
      fake ComfyUI, but moves bytes with 1 MiB socket calls and no hashing, so that it is not the
      bottleneck of a 1 GB transfer.
  bulk BASE_URL BYTES
      One GET of BASE_URL/fake/bytes?n=BYTES and one POST of BYTES zero bytes (Content-Length) to
      BASE_URL/fake/sink; prints "<GET bytes/s> <POST bytes/s>", each from connect to the last byte.
  ws-rtt URL WARMUP COUNT
      WebSocket round trips against an echoing server (the fake with ws_echo): one small text message
      at a time, timed from send to its echo; prints "<median us> <p99 us>".

Every timing is taken inside this one process: no process is spawned per sample.
"""
import argparse
import base64
import json
import os
import socket
import socketserver
import statistics
import struct
import sys
import threading
import time
import urllib.parse

BLOCK = 1 << 20  # 1 MiB per socket call: large enough that Python's per-call cost is noise
ZEROS = memoryview(bytes(BLOCK))


# ---------------------------------------------------------------- HTTP/1.1, just enough

def read_head(rfile):
    """Start line and lower-cased headers of one message; None at a clean end of stream."""
    start = rfile.readline(65537)
    if not start:
        return None
    headers = {}
    while True:
        line = rfile.readline(65537)
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return start.decode("latin-1").rstrip("\r\n"), headers


def drain(rfile, count, buffer):
    """Reads and drops exactly count bytes."""
    view = memoryview(buffer)
    while count > 0:
        got = rfile.readinto(view[:min(count, len(view))])
        if not got:
            raise ConnectionError(f"stream ended {count} bytes early")
        count -= got


def read_body(rfile, headers, buffer):
    """Reads and drops a body framed by Content-Length or chunked; returns its length."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        total = 0
        while True:
            size = int(rfile.readline(65537).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return total
            drain(rfile, size, buffer)
            rfile.readline(65537)
            total += size
    length = int(headers.get("content-length", "0"))
    drain(rfile, length, buffer)
    return length


def send_zeros(sock, count):
    while count > 0:
        piece = min(count, BLOCK)
        sock.sendall(ZEROS[:piece])
        count -= piece


# ---------------------------------------------------------------- origin

class OriginHandler(socketserver.BaseRequestHandler):
    stats = b"{}"

    def handle(self):
        sock = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rfile = sock.makefile("rb", buffering=BLOCK)
        buffer = bytearray(BLOCK)
        while True:
            message = read_head(rfile)
            if message is None:
                return
            start, headers = message
            method, target, _ = start.split(" ", 2)
            url = urllib.parse.urlsplit(target)
            if headers.get("expect", "").lower() == "100-continue":
                sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            received = read_body(rfile, headers, buffer)
            if method == "GET" and url.path == "/system_stats":
                self.answer(200, "application/json", self.stats)
            elif method == "GET" and url.path == "/fake/bytes":
                count = int(urllib.parse.parse_qs(url.query).get("n", ["0"])[0])
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                             b"Content-Length: %d\r\n\r\n" % count)
                send_zeros(sock, count)
            elif method in ("POST", "PUT") and url.path == "/fake/sink":
                self.answer(200, "application/json", json.dumps({"bytes": received}).encode())
            else:
                self.answer(404, "text/plain", b"not served by the benchmark origin\n")

    def answer(self, status, content_type, body):
        reason = {200: "OK", 404: "Not Found"}[status]
        self.request.sendall(b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
                             % (status, reason.encode(), content_type.encode(), len(body)) + body)


class OriginServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def origin(argv):
    parser = argparse.ArgumentParser(prog="proxy_tools.py origin")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--listen", default="127.0.0.1")
    parser.add_argument("--stats", required=True, help="file whose bytes GET /system_stats answers")
    args, _ = parser.parse_known_args(argv)  # comfyctl adds ComfyUI's flags; they mean nothing here
    with open(args.stats, "rb") as f:
        OriginHandler.stats = f.read()
    with OriginServer((args.listen, args.port), OriginHandler) as server:
        print(f"benchmark origin on {args.listen}:{args.port}", flush=True)
        server.serve_forever()


# ---------------------------------------------------------------- bulk client

def connect(url):
    parts = urllib.parse.urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port or 80))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock, parts


def bulk_get(base, count):
    buffer = bytearray(BLOCK)
    began = time.perf_counter()
    sock, parts = connect(base)
    with sock:
        sock.sendall(f"GET /fake/bytes?n={count} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode())
        rfile = sock.makefile("rb", buffering=BLOCK)
        start, headers = read_head(rfile)
        if " 200 " not in start + " ":
            raise RuntimeError(f"GET {base}/fake/bytes answered {start}")
        received = read_body(rfile, headers, buffer)
    took = time.perf_counter() - began
    if received != count:
        raise RuntimeError(f"GET {base}/fake/bytes gave {received} bytes, not {count}")
    return count / took


def bulk_post(base, count):
    buffer = bytearray(BLOCK)
    began = time.perf_counter()
    sock, parts = connect(base)
    with sock:
        sock.sendall(f"POST /fake/sink HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/octet-stream\r\n"
                     f"Content-Length: {count}\r\nConnection: close\r\n\r\n".encode())
        send_zeros(sock, count)
        rfile = sock.makefile("rb", buffering=65536)
        start, headers = read_head(rfile)
        body = rfile.read(int(headers.get("content-length", "0"))) if "content-length" in headers else rfile.read()
    took = time.perf_counter() - began
    del buffer
    if " 200 " not in start + " " or json.loads(body)["bytes"] != count:
        raise RuntimeError(f"POST {base}/fake/sink answered {start} {body[:200]!r}, not {count} bytes")
    return count / took


def bulk(argv):
    base, count = argv[0].rstrip("/"), int(argv[1])
    print(f"{bulk_get(base, count):.0f} {bulk_post(base, count):.0f}")


# ---------------------------------------------------------------- WebSocket round trip

def ws_frame(opcode, payload):
    """A masked client frame (RFC 6455 5.3); payloads here are small."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    length = len(payload)
    head = struct.pack("!BB", 0x80 | opcode, 0x80 | length) if length < 126 else \
        struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    return head + mask + masked


def ws_read(rfile):
    """The next unfragmented server frame as (opcode, payload)."""
    head = rfile.read(2)
    if len(head) < 2:
        raise ConnectionError("WebSocket closed")
    length = head[1] & 0x7F
    if length == 126:
        length = struct.unpack("!H", rfile.read(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", rfile.read(8))[0]
    return head[0] & 0x0F, rfile.read(length)


def ws_rtt(argv):
    url, warmup, count = argv[0], int(argv[1]), int(argv[2])
    parts = urllib.parse.urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key = base64.b64encode(os.urandom(16)).decode()
    path = parts.path + ("?" + parts.query if parts.query else "")
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    rfile = sock.makefile("rb", buffering=65536)
    start, _ = read_head(rfile)
    if " 101 " not in start + " ":
        raise RuntimeError(f"{url} answered {start}")
    opcode, hello = ws_read(rfile)  # the fake's "status" message on connect
    if b'"status"' not in hello:
        raise RuntimeError(f"{url}: expected the status message first, got {hello[:200]!r}")
    samples = []
    payload = b'{"type": "bench", "data": "0123456789abcdef"}'
    for i in range(warmup + count):
        frame = ws_frame(0x1, payload)  # masked before the clock starts
        began = time.perf_counter()
        sock.sendall(frame)
        while True:
            opcode, echoed = ws_read(rfile)
            if opcode == 0x1:
                break
        took = time.perf_counter() - began
        if echoed != payload:
            raise RuntimeError(f"{url}: echo differs: {echoed[:200]!r} (is ws_echo on in fake.json?)")
        if i >= warmup:
            samples.append(took * 1e6)
    sock.sendall(ws_frame(0x8, struct.pack("!H", 1000)))
    sock.close()
    samples.sort()
    print(f"{statistics.median(samples):.1f} {samples[int(len(samples) * 0.99) - 1]:.1f}")


if __name__ == "__main__":
    commands = {"origin": origin, "bulk": bulk, "ws-rtt": ws_rtt}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](sys.argv[2:])
