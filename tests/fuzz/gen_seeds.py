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


def client_page_seeds(root):
    """fuzz_client_page: PullPage messages as a server sends them (first byte != 0), and
    streams of frames as read from the connection (first byte 0: a 4-byte length comes
    first). Record states carry real clock blobs (docs/merge.md, "Clock blob")."""
    dev_a = bytes([0x11] * 16)
    dev_b = bytes([0x22] * 16)
    rid1 = bytes.fromhex("0190a1b2c3d47e5f8a9b0c1d2e3f4051")
    rid2 = bytes.fromhex("0190a1b2c3d47e5f8a9b0c1d2e3f4052")
    cid = bytes(range(0xA0, 0xB0))
    t0 = (1749990000000 << 16)  # a few hours before the target's fixed clock

    def be64(v):
        return struct.pack(">Q", v)

    def blob(devices, entries):
        """entries: (field, element_id or None, tombstone, hlc, dev, base or None), sorted."""
        devices = sorted(devices)
        out = bytearray(b"\x01" + varint(len(devices)) + b"".join(devices) + varint(len(entries)))
        prev = None
        for field, eid, tomb, hlc, dev, base in entries:
            same = prev == (hlc, dev)  # the previous entry's clock: flag 0x10, clock omitted
            flags = ((1 if tomb else 0) | (2 if eid else 0) | (4 if base else 0) |
                     (16 if same else 0))
            out += varint(field) + bytes([flags])
            if eid:
                out += bytes([len(eid)]) + eid
            if not same:
                out += be64(hlc) + varint(devices.index(dev))
            prev = (hlc, dev)
            if base:
                out += be64(base[0]) + varint(devices.index(base[1]))
        return bytes(out)

    concern = lfield(14, lfield(1, cid) + vfield(2, 3) + lfield(3, "Engins explosifs"))
    body1 = lfield(1, "GAO") + lfield(3, "Ansongo") + concern + lfield(18, "Réunion à Bara")
    clocks1 = blob([dev_a], [(1, None, 0, t0 + 1, dev_a, None),
                             (3, None, 0, t0 + 1, dev_a, None),
                             (14, cid, 0, t0 + 1, dev_a, None),
                             (18, None, 0, t0 + 1, dev_a, None)])
    # Later: dev_b changed commune (having seen dev_a's value) and deleted the concern.
    body1b = lfield(1, "GAO") + lfield(3, "Bourem") + lfield(18, "Réunion à Bara")
    clocks1b = blob([dev_a, dev_b], [(1, None, 0, t0 + 1, dev_a, None),
                                     (3, None, 0, t0 + 9, dev_b, (t0 + 1, dev_a)),
                                     (14, cid, 1, t0 + 9, dev_b, None),
                                     (18, None, 0, t0 + 1, dev_a, None)])
    # A deleted record: field 0 tombstone entry, and the RecordState's own delete fields.
    body2 = lfield(1, "MENAKA") + lfield(3, "Inekar") + lfield(99, "from a newer app")
    clocks2 = blob([dev_a, dev_b], [(0, None, 1, t0 + 20, dev_b, None),
                                    (1, None, 0, t0 + 2, dev_a, None),
                                    (3, None, 0, t0 + 2, dev_a, None),
                                    (99, None, 0, t0 + 2, dev_a, None)])

    def record(rid, body, clocks, region, seq, deleted=None):
        r = lfield(1, rid) + vfield(2, 1) + lfield(3, region) + lfield(4, body) + lfield(5, clocks)
        if deleted:
            r += vfield(6, 1) + f64(7, deleted[0]) + lfield(8, deleted[1])
        return r + vfield(9, seq)

    def conflict(cid_, state):
        return (vfield(1, cid_) + lfield(2, rid1) + vfield(3, 3) + lfield(5, lfield(3, "Bourem")) +
                f64(6, t0 + 9) + lfield(7, dev_b) + lfield(8, lfield(3, "Gao ville")) +
                f64(9, t0 + 8) + lfield(10, dev_a) + vfield(11, state) +
                (lfield(12, dev_a) + f64(13, t0 + 30) if state == 2 else b""))

    def page(records, conflicts=(), cursor=0, more=0, server_hlc=t0 + 100):
        return (b"".join(lfield(1, r) for r in records) +
                b"".join(lfield(2, k) for k in conflicts) +
                (vfield(3, cursor) if cursor else b"") + (vfield(4, 1) if more else b"") +
                f64(5, server_hlc))

    def page_frame(request_id, pg):
        return frame(vfield(1, request_id) + lfield(12, pg))

    new = record(rid1, body1, clocks1, "GAO", 3)
    edited = record(rid1, body1b, clocks1b, "GAO", 7)
    deleted = record(rid2, body2, clocks2, "MENAKA", 5, (t0 + 20, dev_b))
    unknown = (lfield(1, rid2) + vfield(2, 77) + lfield(3, "GAO") + lfield(4, b"\x08\x01") +
               lfield(5, b"\x01"))
    pong = frame(vfield(1, 0) + lfield(6, vfield(1, 0x5EED)))
    seeds = {
        "new_record": page([new], cursor=3),
        "edit_and_conflicts": page([new, edited], [conflict(1, 1), conflict(2, 2)], cursor=7),
        "deleted_unknown_field": page([deleted], cursor=5),
        "unknown_collection": page([unknown, new], cursor=9),
        "empty_page": page([], cursor=12),
        "bad_record_id": page([lfield(1, rid1[:15]) + vfield(2, 1)]),
        "frames_two_pages": (page_frame(2, page([new, deleted], cursor=5, more=1)) + pong +
                             page_frame(3, page([edited], [conflict(1, 1)], cursor=7))),
        "frames_error": page_frame(2, page([new], cursor=3)) +
                        frame(vfield(1, 3) + lfield(4, vfield(1, 4) + lfield(2, "scope"))),
        # Found by the fuzzer (tests/unit/test_client_apply.c): refused, store unchanged.
        "bad_utf8": page([record(rid1, lfield(1, "GAO") + lfield(3, b"An\xc7ongo") + concern +
                                 lfield(18, "Réunion à Bara"), clocks1, "GAO", 3)], cursor=3),
        "clock_max": page([record(rid1, body1, blob([dev_a], [
            (1, None, 0, t0 + 1, dev_a, None), (3, None, 0, 2**64 - 1, dev_a, None),
            (14, cid, 0, t0 + 1, dev_a, None), (18, None, 0, t0 + 1, dev_a, None)]),
            "GAO", 3)], cursor=3),
    }
    out = os.path.join(root, "fuzz_client_page")
    os.makedirs(out, exist_ok=True)
    for name, data in seeds.items():
        assert (data[0] == 0) == name.startswith("frames_"), name
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


client_page_seeds(root)


def handler_seeds(root):
    """fuzz_handler_session / _push / _pull (tests/fuzz/handler_harness.h): the harness's
    devices, credentials, enrolment codes and clock are fixed, and repeated here."""
    def dev_id(i):
        return bytes([0x01, 0x9a, 0, 0, 0, 0, 0x70, 0, 0x80, 0, 0, 0, 0, 0, 0, 0x01 + i])

    def cred(i):
        return bytes([0x40 + i] * 32)

    t0 = 1795462860000  # HH_T0_MS: the harness's wall clock
    hlc = (t0 - 5000) << 16

    def rec_id(n):
        return bytes([0x01, 0x9a, 0x7f, 0, 0, 0, 0x70, 0, 0x80, 0, 0, 0, 0, 0, 0x5e, n])

    def req(rid, field, msg):
        return frame(vfield(1, rid) + lfield(field, msg))

    def hello(rid, i, credential=None, version=1):
        return req(rid, 2, vfield(1, version) + lfield(2, dev_id(i)) +
                   lfield(3, credential or cred(i)) + vfield(4, 3) + f64(5, hlc) +
                   lfield(6, "app 2.1"))

    def enroll(rid, code, name="Tablette Ansongo"):
        return req(rid, 7, vfield(1, 1) + lfield(2, code) + lfield(3, name))

    def ping(rid):
        return req(rid, 5, vfield(1, 0x5EED + rid))

    def pull_msg(cursor=0, size=0, colls=()):
        m = (vfield(1, cursor) if cursor else b"") + (vfield(2, size) if size else b"")
        return m + (lfield(3, b"".join(varint(c) for c in colls)) if colls else b"")

    def report(region, commune, concern_id=None):
        r = lfield(1, region) + lfield(3, commune) + lfield(18, "Dialogue communautaire")
        if concern_id:
            r += lfield(14, lfield(1, concern_id) + vfield(2, 2) + lfield(3, "Vols de bétail"))
        return r

    def op(field, value, element_id=None, tomb=0, base=None):
        o = vfield(1, field) + (lfield(2, element_id) if element_id else b"") + lfield(3, value)
        o += vfield(4, 1) if tomb else b""
        if base:
            o += f64(6, base[0]) + lfield(7, base[1])
        return o

    def change(seq, rid, region, body=b"", ops=(), delete=0, resolves=(), at=hlc, coll=1):
        c = (vfield(1, seq) + lfield(2, rid) + vfield(3, coll) + lfield(4, region) + f64(5, at))
        c += lfield(6, body) if body else b""
        c += b"".join(lfield(7, o) for o in ops)
        c += vfield(8, 1) if delete else b""
        c += lfield(9, b"".join(varint(r) for r in resolves)) if resolves else b""
        return c

    def batch(*changes, hw=0):
        return b"".join(lfield(1, c) for c in changes) + (vfield(2, hw) if hw else b"")

    def seeded(d, n):  # records the harness pushed at start (HH_SEED_RECORDS)
        return bytes([0x01, 0x9b, 0, 0, 0, 0, 0x70, 0, 0x80, 0, 0, 0, 0, 0, n, 0x01 + d])

    cid = bytes(range(0xC0, 0xD0))
    new_gao = change(101, rec_id(1), "GAO", report("GAO", "Ansongo", cid))
    new_menaka = change(102, rec_id(2), "MENAKA", report("MENAKA", "Inekar"))
    edit = change(103, rec_id(1), "GAO", ops=[op(3, lfield(3, "Bourem"),
                                                base=(hlc - (9 << 16), dev_id(2)))],
                  at=hlc + (1 << 16))
    push_msg = batch(new_gao, new_menaka, edit, hw=110)

    session = {
        "hello": b"\x00" + hello(1, 0),
        "hello_push_pull_ping_stepwise": b"\x01" + hello(1, 0) + req(2, 9, push_msg) +
                                         req(3, 11, pull_msg(size=5)) + ping(4),
        "hello_then_pipelined": b"\x02" + hello(1, 3) + b"".join(
            req(10 + k, 9, batch(change(200 + k, rec_id(20 + k), "KIDAL",
                                        report("KIDAL", "Tessalit")))) for k in range(10)) +
                                req(30, 11, pull_msg()) + ping(31),
        "pipelined_before_auth": b"\x00" + hello(1, 2) + req(2, 11, pull_msg()) + ping(3),
        "hello_revoked": b"\x01" + hello(1, 4) + ping(2),
        "hello_wrong_credential": b"\x01" + hello(1, 0, credential=cred(1)),
        "hello_bad_version": b"\x00" + hello(1, 0, version=2),
        "hello_twice": b"\x01" + hello(1, 1) + hello(2, 1),
        "enroll_then_hello": b"\x01" + enroll(1, "ABCD-EFGH-JKMN-PQRS") + hello(2, 2) +
                             req(3, 11, pull_msg(colls=[1])),
        "enroll_typed": b"\x01" + enroll(1, "abcd efgh jkmn pqrs", "Téléphone\u202e"),
        "enroll_expired": b"\x01" + enroll(1, "ZZZZ-ZZZZ-ZZZZ-ZZZZ") + ping(2),
        "pings": b"\x00" + b"".join(ping(k) for k in range(1, 12)),
        "push_before_hello": b"\x00" + req(1, 9, push_msg) + ping(2),
        "server_message": b"\x00" + req(1, 3, vfield(1, 1)) + ping(2),
        "malformed": b"\x00" + ping(1) + frame(b"\xff" * 9),
        "over_limit_preauth": b"\x00" + ping(1) + struct.pack(">I", 5000) + b"\x08" * 40,
        "empty_frame_and_truncated": b"\x00" + frame(b"") + ping(2)[:-3],
    }
    push = {
        "new_records": b"\x00" + batch(new_gao, new_menaka, hw=102),
        "edit_with_stale_base": b"\x00" + push_msg,
        "coordinator_resolves": b"\x02" + batch(change(107, seeded(0, 0), "GAO",
                                                       ops=[op(3, lfield(3, "Gao"))],
                                                       resolves=[1, 2])),
        "admin_delete": b"\x03" + batch(change(109, seeded(0, 1), "MENAKA", delete=1)),
        "own_only_edits_other": b"\x01" + batch(change(
            110, seeded(2, 1), "GAO", ops=[op(18, lfield(18, "Résumé"),
                                           base=((t0 - 60000 + 21) << 16, dev_id(2)))])),
        "own_only_element_ops": b"\x01" + batch(
            change(11, rec_id(3), "GAO", report("GAO", "Gabero", cid)),
            change(12, rec_id(3), "GAO", ops=[op(14, lfield(14, lfield(1, cid) + vfield(2, 3)),
                                                 element_id=cid)], at=hlc + (2 << 16)),
            change(13, rec_id(3), "GAO", ops=[op(14, b"", element_id=cid, tomb=1)],
                   at=hlc + (3 << 16))),
        "out_of_scope": b"\x00" + batch(change(21, rec_id(4), "TOMBOUCTOU",
                                               report("TOMBOUCTOU", "Goundam"))),
        "clock_ahead": b"\x00" + batch(change(22, rec_id(5), "GAO", report("GAO", "Bara"),
                                              at=(t0 + 3600000) << 16)),
        "bad_utf8_unknown_collection": b"\x03" + batch(
            change(23, rec_id(6), "GAO", lfield(1, "GAO") + lfield(3, b"\xc3\x28")),
            change(24, rec_id(7), "GAO", lfield(1, "GAO"), coll=77)),
        "duplicate_and_zero_seq": b"\x00" + batch(new_gao, change(0, rec_id(8), "GAO",
                                                                  report("GAO", "Ansongo"))),
        # Stale edits of device 3's winning commune on device 0's first record: each loses and
        # opens a conflict; they count against max_record (found by this target: they did not,
        # and the record's pull page outgrew the frame limit).
        "conflict_pileup": b"\x00" + batch(*[change(
            1000 + k, seeded(0, 0), "GAO", ops=[op(3, lfield(3, "Commune %03d " % k + "x" * 150),
                                                   base=((t0 - 200000) << 16, dev_id(2)))],
            at=(t0 - 100000) << 16) for k in range(45)]),
        "admin_long_regions": b"\x03" + batch(*[change(
            300 + k, rec_id(100 + k), "R%02d" % k * 10, report("R%02d" % k * 10, "Ville"))
            for k in range(40)]),
    }
    pull = {
        "collector": b"\x00",
        "own_only_follow": b"\x05" + pull_msg(size=2),
        "coordinator_collections": b"\x02" + pull_msg(size=3, colls=[1]),
        "admin_from_cursor_follow": b"\x07" + pull_msg(cursor=5, size=4),
        "cursor_huge": b"\x03" + pull_msg(cursor=2**64 - 1),
        "unknown_collection": b"\x00" + pull_msg(colls=[77, 1]),
        "too_many_collections": b"\x03" + pull_msg(colls=range(1, 18)),
    }
    for target, seeds in (("fuzz_handler_session", session), ("fuzz_handler_push", push),
                          ("fuzz_handler_pull", pull)):
        out = os.path.join(root, target)
        os.makedirs(out, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)


handler_seeds(root)
