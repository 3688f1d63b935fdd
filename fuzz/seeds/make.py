#!/usr/bin/env python3
"""Write the seed inputs of the fuzz targets (one valid packet or more per
target, like the unit tests' vectors) into seeds/<target>/. run-all.sh
passes them to libFuzzer as a read-only corpus. Re-run after changing."""
import ipaddress
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def fold(b):
    if len(b) % 2:
        b += b"\0"
    s = sum((b[i] << 8) | b[i + 1] for i in range(0, len(b), 2))
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def ck(b):
    return (~fold(b)) & 0xFFFF


def put16(b, at, v):
    b[at:at + 2] = v.to_bytes(2, "big")


def v6(s):
    return ipaddress.IPv6Address(s).packed


MAC1 = bytes([0x52, 0x54, 0, 0x12, 0x34, 0x56])
seeds = {}

seeds["ethernet"] = [b"\xff" * 6 + MAC1 + b"\x08\x06" + b"\xaa\xbb", b"\x33\x33\0\0\0\1" + MAC1 + b"\x81\x00\0\1\x86\xdd"]
seeds["arp"] = [bytes([0, 1, 8, 0, 6, 4, 0, op]) + MAC1 + bytes([10, 0, 0, 2]) + bytes(6) + bytes([10, 0, 0, 1]) for op in (1, 2)]


def ipv4(proto, payload, ihl_opts=b""):
    h = bytearray([0x45 + len(ihl_opts) // 4, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]) + ihl_opts
    put16(h, 2, len(h) + len(payload))
    put16(h, 10, ck(bytes(h)))
    return bytes(h) + payload


seeds["ipv4"] = [ipv4(17, b"payload!"), ipv4(1, b"\x08\0\0\0", b"\x94\x04\0\0")]


def icmp4(t, code, rest4, data):
    m = bytearray([t, code, 0, 0]) + rest4 + data
    put16(m, 2, ck(bytes(m)))
    return bytes(m)


quoted = ipv4(17, b"\x30\x39\x00\x35\x00\x10\x00\x00")
seeds["icmpv4"] = [
    icmp4(8, 0, b"\x12\x34\0\1", b"abcdefgh"),
    icmp4(3, 3, b"\0\0\0\0", quoted),
    icmp4(3, 4, b"\0\0\x05\xdc", quoted),
    icmp4(11, 0, b"\0\0\0\0", quoted),
]

v6hdr = lambda nh, payload: bytes([0x60, 0, 0, 0]) + len(payload).to_bytes(2, "big") + bytes([nh, 64]) + v6("fe80::1") + v6("ff02::1") + payload
seeds["ipv6"] = [
    v6hdr(0, bytes([44, 0, 5, 2, 0, 0, 1, 0]) + bytes([58, 0, 0x05, 0xC9, 0xDE, 0xAD, 0xBE, 0xEF]) + b"\x80\0\x12\x34"),
    v6hdr(60, bytes([43, 0, 1, 4, 0, 0, 0, 0]) + bytes([17, 0, 0, 0, 0, 0, 0, 0]) + b"udp!"),
]

SRC6, DST6 = v6("fe80::1"), v6("ff02::1")


def icmp6(msg):
    m = bytearray(msg)
    ph = SRC6 + DST6 + len(m).to_bytes(4, "big") + bytes([0, 0, 0, 58])
    put16(m, 2, ck(ph + bytes(m)))
    return SRC6 + DST6 + bytes(m)  # the target reads the addresses first


slla = bytes([1, 1]) + MAC1
seeds["icmpv6"] = [
    icmp6(bytes([128, 0, 0, 0, 0xAB, 0xCD, 0, 7]) + b"ping6!"),
    icmp6(bytes([1, 4, 0, 0, 0, 0, 0, 0]) + v6hdr(17, b"")),
    icmp6(bytes([133, 0, 0, 0, 0, 0, 0, 0]) + slla),
    icmp6(bytes([134, 0, 0, 0, 64, 0xC0, 7, 8, 0, 0, 0x75, 0x30, 0, 0, 3, 0xE8]) + slla
          + bytes([5, 1, 0, 0, 0, 0, 5, 0xDC])
          + bytes([3, 4, 64, 0xC0, 0, 1, 0x51, 0x80, 0, 0, 0x38, 0x40, 0, 0, 0, 0]) + v6("2001:db8::")),
    icmp6(bytes([135, 0, 0, 0, 0, 0, 0, 0]) + v6("fe80::2") + slla),
    icmp6(bytes([136, 0, 0, 0, 0x60, 0, 0, 0]) + v6("fe80::2") + bytes([2, 1]) + MAC1),
]


def udp(family, payload):
    d = bytearray([0xC3, 0x50, 0, 53, 0, 0, 0, 0]) + payload
    put16(d, 4, len(d))
    if family == 0:
        ph = bytes([10, 0, 0, 1, 10, 0, 0, 2, 0, 17]) + len(d).to_bytes(2, "big")
    else:
        ph = v6("::1") + v6("fe80::1") + len(d).to_bytes(4, "big") + bytes([0, 0, 0, 17])
    put16(d, 6, ck(ph + bytes(d)) or 0xFFFF)
    return bytes([family]) + bytes(d)


seeds["udp"] = [udp(0, b"mirage"), udp(1, b"mirage6"), udp(0, b"")]


def tcp(family, flags, opts, payload):
    d = bytearray([0x9C, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 9, 0, flags, 0xFA, 0xF0, 0, 0, 0, 0]) + opts + payload
    d[12] = ((20 + len(opts)) // 4) << 4
    if family == 0:
        ph = bytes([10, 0, 0, 1, 10, 0, 0, 2, 0, 6]) + len(d).to_bytes(2, "big")
    else:
        ph = v6("::1") + v6("fe80::1") + len(d).to_bytes(4, "big") + bytes([0, 0, 0, 6])
    put16(d, 16, ck(ph + bytes(d)))
    return bytes([family]) + bytes(d)


TS = bytes([8, 10, 0x11, 0x22, 0x33, 0x44, 0, 0, 0, 0])
seeds["tcp"] = [
    tcp(0, 0x02, bytes([2, 4, 5, 0xB4, 4, 2]) + TS + bytes([1, 3, 3, 7]), b""),
    tcp(1, 0x12, bytes([2, 4, 5, 0xA0, 1, 1, 4, 2, 1, 3, 3, 9]), b""),
    tcp(0, 0x18, bytes([1, 1]) + TS + bytes([1, 1, 5, 18]) + bytes(range(16)), b"GET / HTTP/1.0"),
    tcp(1, 0x11, bytes([30, 4, 0xAA, 0xBB, 0]) + bytes(3), b"x"),
]


def segment_frame(family, flags, payload):
    # One TCP segment in an Ethernet frame (the tcp seeds' segment behind
    # an IP header), behind the segmentation target's piece size (1448).
    seg = tcp(family, flags, TS + bytes([1, 1]), payload)[1:]
    if family == 0:
        ip, etype = ipv4(6, seg), b"\x08\x00"
    else:
        h = bytearray([0x60, 0, 0, 0, 0, 0, 6, 64]) + v6("::1") + v6("fe80::1")
        put16(h, 4, len(seg))
        ip, etype = bytes(h) + seg, b"\x86\xdd"
    return (1448).to_bytes(2, "big") + MAC1 + MAC1 + etype + ip


seeds["segmentation"] = [
    segment_frame(0, 0x19, bytes(range(256)) * 16),
    segment_frame(1, 0xB8, bytes(range(256)) * 12),
    segment_frame(0, 0x10, b"short"),
]


def dhcp(op, mtype, opts):
    h = bytes([op, 1, 6, 0]) + (0x3903F326).to_bytes(4, "big") + bytes([0, 3, 0x80, 0]) + bytes(16) + MAC1 + bytes(10 + 64 + 128)
    m = h + bytes([0x63, 0x82, 0x53, 0x63, 53, 1, mtype]) + opts + b"\xff"
    return m + bytes(max(0, 300 - len(m)))


seeds["dhcpv4"] = [
    dhcp(1, 1, bytes([61, 7, 1]) + MAC1 + bytes([57, 2, 5, 0xDC, 55, 4, 1, 3, 6, 51])),
    dhcp(1, 3, bytes([50, 4, 192, 168, 1, 100, 54, 4, 192, 168, 1, 1])),
    dhcp(2, 5, bytes([54, 4, 192, 168, 1, 1, 51, 4, 0, 0, 0x0E, 0x10, 58, 4, 0, 0, 7, 8, 59, 4, 0, 0, 0x0C, 0x4E,
                      1, 4, 255, 255, 255, 0, 3, 4, 192, 168, 1, 1, 6, 8, 192, 168, 1, 1, 9, 9, 9, 9])),
]

for target, inputs in seeds.items():
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    for i, b in enumerate(inputs):
        with open(os.path.join(d, f"seed-{i}.bin"), "wb") as f:
            f.write(b)
