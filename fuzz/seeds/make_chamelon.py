#!/usr/bin/env python3
"""Write the seed images of the chamelon fuzz target into seeds/chamelon/:
small littlefs images (512-byte blocks) made by the reference
implementation (littlefs-python), with directories, inline and multi-block
files, renamed and removed entries. Re-run after changing."""
import os

import littlefs

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "chamelon")


def image(blocks, fill):
    fs = littlefs.LittleFS(block_size=512, block_count=blocks, prog_size=16, read_size=16, cache_size=512)
    fill(fs)
    fs.unmount()
    return bytes(fs.context.buffer)


def small(fs):
    fs.makedirs("a/b")
    with fs.open("a/b/inline", "wb") as f:
        f.write(b"inline value")
    with fs.open("top", "wb") as f:
        f.write(b"top")


def files(fs):
    fs.mkdir("d")
    with fs.open("d/big", "wb") as f:
        f.write(bytes(range(256)) * 6)
    with fs.open("d/gone", "wb") as f:
        f.write(b"gone")
    fs.remove("d/gone")
    fs.rename("d/big", "big")
    for i in range(6):
        with fs.open(f"d/f{i}", "wb") as f:
            f.write(bytes([i]) * (10 * i))


os.makedirs(OUT, exist_ok=True)
for name, blocks, fill in (("small.img", 8, small), ("files.img", 16, files)):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(image(blocks, fill))
