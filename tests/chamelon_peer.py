#!/usr/bin/env python3
"""The littlefs reference implementation (PyPI littlefs-python) as the peer
of tests/kv_chamelon.rs: it makes, lists, changes and inspects littlefs
images, so that chamelon's images are checked by the reference and the
reference's images by chamelon.

    chamelon_peer.py make   IMAGE BLOCK_SIZE BLOCK_COUNT   format, fill, list
    chamelon_peer.py list   IMAGE BLOCK_SIZE               list every entry
    chamelon_peer.py change IMAGE BLOCK_SIZE               change, then list
    chamelon_peer.py attr   IMAGE BLOCK_SIZE PATH TYPE     hex of a user attribute
    chamelon_peer.py check-many DIR BLOCK_SIZE             for every image in DIR:
        `== name`, then littlefs's own recovery (fs_mkconsistent), the
        listing, and a write; `!! ...` lines report a failure

A listing is one line per entry, sorted: `D /path` for a directory,
`F /path <hex of the contents>` for a file. Without littlefs-python the
script prints `SKIPPED: <reason>` and exits with status 0.
"""

import os
import sys

try:
    import littlefs
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"SKIPPED: littlefs-python is not installed ({e})")
    sys.exit(0)

PROG_SIZE = 16


def content(name, size):
    """Deterministic bytes for a file of the peer's tree."""
    seed = sum(name.encode()) & 0xFF
    return bytes(((i * 131) ^ seed ^ (i >> 8)) & 0xFF for i in range(size))


def open_fs(image, block_size, block_count=None, create=False):
    if create:
        data = bytearray([0xFF] * (block_size * block_count))
    else:
        with open(image, "rb") as f:
            data = bytearray(f.read())
        block_count = len(data) // block_size
    ctx = littlefs.UserContext(buffer=data)
    fs = littlefs.LittleFS(
        context=ctx,
        mount=False,
        block_size=block_size,
        block_count=block_count,
        prog_size=PROG_SIZE,
        read_size=PROG_SIZE,
        cache_size=block_size,
    )
    if create:
        fs.format()
    fs.mount()
    return fs, data


def save(image, fs, data):
    fs.unmount()
    with open(image, "wb") as f:
        f.write(data)


def listing(fs):
    lines = []

    def walk(path):
        for name in sorted(fs.listdir(path)):
            full = (path.rstrip("/") + "/" + name) if path != "/" else "/" + name
            st = fs.stat(full)
            if st.type == 2:
                lines.append(f"D {full}")
                walk(full)
            else:
                with fs.open(full, "rb") as f:
                    lines.append(f"F {full} {f.read().hex()}")

    walk("/")
    return sorted(lines)


def write(fs, path, data, mode="wb"):
    with fs.open(path, mode) as f:
        f.write(data)


def make(image, block_size, block_count):
    fs, data = open_fs(image, block_size, block_count, create=True)
    fs.makedirs("docs/deep/deeper")
    fs.mkdir("empty")
    write(fs, "hello.txt", b"Hello from littlefs!\n")
    write(fs, "tiny", b"x")
    write(fs, "zero", b"")
    write(fs, "docs/inline.bin", content("inline", block_size // 8))
    write(fs, "docs/one-block.bin", content("one", block_size - 100))
    write(fs, "docs/deep/large.bin", content("large", 9 * block_size + 77))
    write(fs, "docs/deep/deeper/note", b"deep note")
    fs.mkdir("many")
    for i in range(30):
        write(fs, f"many/file-{i:02}", content(f"many{i}", (i * 37) % 200))
    # History the image keeps: overwritten, appended, renamed, removed.
    write(fs, "hello.txt", b"Hello again from littlefs!\n")
    write(fs, "docs/deep/large.bin", content("append", 700), "ab")
    write(fs, "gone", b"removed soon")
    fs.remove("gone")
    write(fs, "old-name", content("renamed", 300))
    fs.rename("old-name", "docs/new-name")
    lines = listing(fs)
    save(image, fs, data)
    return lines


def change(image, block_size):
    fs, data = open_fs(image, block_size)
    fs.makedirs("from-peer", exist_ok=True)
    write(fs, "from-peer/small", b"written by the reference")
    write(fs, "from-peer/big", content("peer-big", 3 * block_size + 5))
    names = [line.split(" ")[1] for line in listing(fs) if line.startswith("F ")]
    # Append to the files chamelon wrote at the top level, remove one.
    for name in names:
        if name.startswith("/chamelon-"):
            write(fs, name, b"+peer", "ab")
    if "/chamelon-remove-me" in names:
        fs.remove("/chamelon-remove-me")
    lines = listing(fs)
    save(image, fs, data)
    return lines


def check_many(directory, block_size):
    out = []
    for name in sorted(os.listdir(directory)):
        out.append(f"== {name}")
        try:
            fs, data = open_fs(os.path.join(directory, name), block_size)
            # Listed after the recovery: while a move is pending, littlefs's
            # own listing also hides the entry after the move's source (its
            # lfs_dir_getslice shifts ids that lfs_dir_fetchmatch already
            # shifted), on its own images as on chamelon's.
            fs.fs_mkconsistent()
            before = listing(fs)
            out.extend(before)
            write(fs, "/peer-after-crash", b"ok")
            expected = sorted(before + ["F /peer-after-crash " + b"ok".hex()])
            if listing(fs) != expected:
                out.append("!! a write by the reference changed other entries")
        except (littlefs.LittleFSError, OSError) as e:
            out.append(f"!! littlefs error: {e!r}")
    return out


def main(argv):
    cmd = argv[1]
    image = argv[2]
    block_size = int(argv[3])
    if cmd == "make":
        out = make(image, block_size, int(argv[4]))
    elif cmd == "list":
        fs, _ = open_fs(image, block_size)
        out = listing(fs)
    elif cmd == "change":
        out = change(image, block_size)
    elif cmd == "check-many":
        out = check_many(image, block_size)
    elif cmd == "attr":
        fs, _ = open_fs(image, block_size)
        out = [fs.getattr(argv[4], int(argv[5], 0)).hex()]
    else:
        raise SystemExit(f"unknown command {cmd}")
    sys.stdout.write("".join(line + "\n" for line in out))


if __name__ == "__main__":
    try:
        main(sys.argv)
    except littlefs.LittleFSError as e:
        print(f"littlefs error: {e}", file=sys.stderr)
        sys.exit(2)
