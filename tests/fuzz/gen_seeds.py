#!/usr/bin/env python3
"""Writes the seed corpora of fuzz_frame, fuzz_pbwire and fuzz_auth (run once from the repository root;
the files are committed). Protobuf is encoded by hand so no protobuf package is needed."""
import os
import struct


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def tag(num, wt):
    return varint(num << 3 | wt)


def vfield(num, v):
    return tag(num, 0) + varint(v)


def lfield(num, b):
    if isinstance(b, str):
        b = b.encode()
    return tag(num, 2) + varint(len(b)) + b


def f64(num, v):
    return tag(num, 1) + struct.pack("<Q", v)


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


ID = bytes(range(1, 17))
CRED = bytes(range(32, 64))
HLC = (1795462853070 << 16) | 3

hello = vfield(1, 1) + lfield(2, lfield(2, ID) + lfield(3, CRED) + vfield(4, 7) + f64(5, HLC) +
                          vfield(1, 1) + lfield(6, "app 1.0"))
ping = vfield(1, 2) + lfield(5, vfield(1, 0x5EED))
enroll = vfield(1, 3) + lfield(7, vfield(1, 1) + lfield(2, "ABCD-EFGH-JKMN-PQRS") +
                                   lfield(3, "phone"))
report = (lfield(1, "GAO") + lfield(3, "Ansongo") + lfield(18, "Réunion à Ménaka") +
          lfield(14, lfield(1, ID) + lfield(3, "Engins explosifs")))
op = vfield(1, 3) + lfield(3, lfield(3, "Bourem")) + f64(5, HLC) + f64(6, HLC - 1) + lfield(7, ID)
change = (vfield(1, 1) + lfield(2, ID) + vfield(3, 1) + lfield(4, "GAO") + f64(5, HLC) +
          lfield(6, report) + lfield(7, op) + lfield(9, varint(1) + varint(300)))
push = vfield(1, 4) + lfield(9, lfield(1, change) + lfield(1, change))
pull = vfield(1, 5) + lfield(11, vfield(1, 12) + vfield(2, 100) + lfield(3, varint(1)))
unknown = vfield(1, 6) + lfield(15, vfield(1, 1))
welcome = vfield(1, 7) + lfield(3, vfield(1, 1))

seeds_frame = {
    "hello": (0x00, frame(hello)),
    "ping_pipelined": (0x10, frame(ping) * 5),
    "enroll_then_hello": (0x20, frame(enroll) + frame(hello)),
    "push_big_limit": (0xF0, frame(push)),
    "push_small_limit": (0x03, frame(push)),
    "pull": (0x40, frame(pull) + frame(ping)),
    "unknown_oneof": (0x50, frame(unknown) + frame(welcome)),
    "empty_frames": (0x60, frame(b"") * 3 + frame(ping)),
    "over_limit": (0x01, frame(ping) + struct.pack(">I", 100000) + b"x" * 40),
    "truncated": (0xFF, frame(push)[:-7]),
    "garbage": (0x80, frame(b"\xff" * 11) + b"GET / HTTP/1.1\r\n\r\n"),
}
seeds_pbwire = {
    "report": report,
    "change": change,
    "push": push,
    "fixed_and_packed": f64(2, 1) + tag(3, 5) + b"\x01\x02\x03\x04" + lfield(4, varint(1) * 9),
    "utf8_mixed": lfield(1, "aé€😀") + lfield(2, b"\xc3\x28") + lfield(3, b"\xed\xa0\x80") +
                  lfield(4, b"\xf4\x90\x80\x80") + lfield(5, b"\xe0\x80\xaf"),
    "varint_edges": vfield(1, 0) + vfield(2, 2**63) + vfield(3, 2**64 - 1) +
                    tag(4, 0) + b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",
    "bad_tags": tag(0, 0) + b"\x00" + tag(5, 3) + tag(6, 6),
}

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
for name, (limit, stream) in seeds_frame.items():
    with open(os.path.join(root, "fuzz_frame", name), "wb") as f:
        f.write(bytes([limit, 0x5A, 0x13, 0xC7, 0x21]) + stream)
for name, data in seeds_pbwire.items():
    with open(os.path.join(root, "fuzz_pbwire", name), "wb") as f:
        f.write(data)
seeds_auth = {
    "code": b"ABCD-EFGH-JKMN-PQRS",
    "typed": b"abcd efgh jkmn pqrs",
    "confusables": b"O1IL-0000-0000-0000",
    "too_long": b"BUUU-UUUU-UUUU-UUUUU",
    "new": b"B",
}
for name, data in seeds_auth.items():
    with open(os.path.join(root, "fuzz_auth", name), "wb") as f:
        f.write(data)
