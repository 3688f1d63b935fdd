#!/usr/bin/env python3
"""The Linux side of the TCP interoperability tests.

  tcp_peer.py client HOST PORT BYTES   connect, send BYTES of random data
                                       while reading the echo; check it
  tcp_peer.py server PORT BYTES        accept one connection, then the same
  tcp_peer.py send HOST PORT BYTES     connect, send BYTES, close; print
                                       the SHA-256 of what was sent

Prints one line "OK <bytes> <seconds> <sha256>" and exits 0, or prints
what went wrong and exits 1.
"""
import hashlib
import os
import socket
import sys
import threading
import time


def pattern(n):
    # Random but cheap: a random 1 MiB block, repeated with a counter.
    block = os.urandom(1 << 20)
    out = bytearray()
    i = 0
    while len(out) < n:
        out += block[: n - len(out)]
        out[len(out) - 1 :] = bytes([i & 0xFF])
        i += 1
    return bytes(out)


def exchange(sock, nbytes):
    data = pattern(nbytes)
    sent_digest = hashlib.sha256(data).hexdigest()
    got = hashlib.sha256()
    received = 0
    error = []

    def writer():
        try:
            view = memoryview(data)
            while view:
                n = sock.send(view[: 1 << 16])
                view = view[n:]
            sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            error.append(e)

    start = time.monotonic()
    t = threading.Thread(target=writer)
    t.start()
    while True:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        got.update(chunk)
        received += len(chunk)
    t.join()
    secs = time.monotonic() - start
    if error:
        print(f"FAIL write: {error[0]}")
        return 1
    if received != nbytes or got.hexdigest() != sent_digest:
        print(f"FAIL echoed {received} of {nbytes} bytes, digest {got.hexdigest()} != {sent_digest}")
        return 1
    print(f"OK {received} {secs:.3f} {sent_digest}")
    return 0


def main():
    mode = sys.argv[1]
    if mode == "client":
        host, port, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        sock = socket.create_connection((host, port), timeout=60)
        return exchange(sock, n)
    if mode == "server":
        port, n = int(sys.argv[2]), int(sys.argv[3])
        srv = socket.create_server(("::", port), family=socket.AF_INET6, dualstack_ipv6=True)
        srv.settimeout(60)
        print("LISTENING", flush=True)
        sock, _ = srv.accept()
        sock.settimeout(60)
        return exchange(sock, n)
    if mode == "send":
        host, port, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        data = pattern(n)
        sock = socket.create_connection((host, port), timeout=60)
        start = time.monotonic()
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        sock.recv(1)
        secs = time.monotonic() - start
        print(f"OK {n} {secs:.3f} {hashlib.sha256(data).hexdigest()}")
        return 0
    print(f"unknown mode {mode}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
