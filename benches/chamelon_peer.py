#!/usr/bin/env python3
"""The littlefs reference implementation (littlefs-python) on the workload
of benches/chamelon.rs: a 16 MiB in-memory image of 512-byte blocks
(program size 16, cache 512), 100 files in one directory, then `set`
(open for writing, write, close) and `get` (open, read, close) of 32-byte
and 4 KiB values, rotating over the files.

Not a like-for-like peer: every block read and program goes through a
Python callback and every operation through the Python binding, so the
figures bound the reference from above. The like-for-like peer is the
`littlefs_c` group of benches/chamelon.rs (the C library in process,
`--features littlefs-peer`). Prints one line per operation:
`<op> <size>: <microseconds per operation>`.
"""

import sys
import time

try:
    import littlefs
except ImportError as e:
    print(f"SKIPPED: littlefs-python is not installed ({e})")
    sys.exit(0)

KEYS = 100
ROUNDS = 2000


def main():
    for name, size in (("32 B", 32), ("4 KiB", 4096)):
        fs = littlefs.LittleFS(
            block_size=512, block_count=32768, prog_size=16, read_size=16, cache_size=512
        )
        fs.mkdir("bench")
        paths = [f"bench/key-{i:03}" for i in range(KEYS)]
        for i, p in enumerate(paths):
            with fs.open(p, "wb") as f:
                f.write(bytes([i]) * size)
        value = b"\x5a" * size
        start = time.perf_counter()
        for n in range(ROUNDS):
            with fs.open(paths[n % KEYS], "wb") as f:
                f.write(value)
        set_us = (time.perf_counter() - start) / ROUNDS * 1e6
        start = time.perf_counter()
        for n in range(ROUNDS):
            with fs.open(paths[n % KEYS], "rb") as f:
                f.read()
        get_us = (time.perf_counter() - start) / ROUNDS * 1e6
        print(f"set {name}: {set_us:.1f} us")
        print(f"get {name}: {get_us:.1f} us")


if __name__ == "__main__":
    main()
