#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/ from the byte strings of the
hostile-input catalogue (shared/hostile-inputs.md, section 2), scaled down where a row asks for
megabytes. Re-run after editing; the output is deterministic and a few KB in total.

    python3 fuzz/make_corpus.py
"""

import hashlib
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def b(s):
    return s.encode("utf-8") if isinstance(s, str) else bytes(s)


# ---------------------------------------------------------------- Engine.IO packets (P, W13, W14, E)
EIO_PACKET = [
    "", "1", "2", "2probe", "3probe", "4hello", "5", "6", "9", "abc",
    "b", "b!!!", "bQQ", "bAQIDBA==", "bAQIDBA", "bQQ=", "b" + "QUJD" * 16,
    "\u00e9abcd", "2\u00e9abc", "4\u00e9abc", "4abc", "40", "0{\"sid\":\"x\"}",
    b"\x34\xff\xfe", b"\x04\x01\x02", b"\x01\x02", b"\x04",
]

# ---------------------------------------------------------------- v4 polling payloads (P, E7, B11)
EIO_PAYLOAD_V4 = [
    "", "abc", "40\x1e", "\x1e40", "\x1e\x1e", "4a\x1e" * 20 + "4a",
    "4hello\x1e2\x1e4world", "4hello\x1ebAQIDBA==", "4a\x1eb!!!", "b", "b!!!", "bQQ",
    "\u00e9abcd", "2\u00e9abc", "4\u00e9abc", b"\x34\xff\xfe", "2", "1\x1e6\x1e2\x1e4x",
    "451-[\"m\",{\"_placeholder\":true,\"num\":0}]\x1ebAQID",
    "451-[\"m\",{\"_placeholder\":true,\"num\":0}]\x1eb!!!",
    "2:4\U0001d54a", "3:4\U0001d54a3:4ab", ":4a", "0:", "99999999999999999999999:4a",
    "-1:4a", "1e3:4a", "4" + "a" * 200,
]


# ---------------------------------------------------------------- v3 polling payloads (P13-P18)
EIO_PAYLOAD_V3 = [
    "", "6:4hello3:4\U0001d54a", "1:2", "6:b4AQID", "2:4\U0001d54a", "3:4\U0001d54a3:4ab", "abc", ":4a",
    "0:", "-1:4a", "1e3:4a", "99999999999999999999999:4a", "9" * 100 + ":", "5:4a", "3:4ab3:4a",
    "2:9a", "3:b5A", "4:b4!!", "6:2probe1:31:61:1", "1:6" * 6, "3:4\u00e9a",
    b"\x00\x02\xff4a\x01\x03\xff\x04\x01\x02", b"\x01\x05\xff\x04\x01\x02",  # P17
    b"\x00" + b"\x09" * 11 + b"\xff", b"\x00\x09\x09\x09", b"\x02\x01\xff4", b"\x01\x01\xff\x03",
    b"\x00\xff", b"\x00\x02\xff\xff\xfe", b"\x00\x06\xffb4AQID", b"\x01\x01\xff\x04",
]

# ---------------------------------------------------------------- WebSocket frames (W)
MASK = bytes([0x37, 0xFA, 0x21, 0x3D])


def frame(b0, payload=b"", masked=True, mask=MASK):
    payload = b(payload)
    n = len(payload)
    m = 0x80 if masked else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n <= 0xFFFF:
        head = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if not masked:
        return head + payload
    return head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


def ws(stream, limits=0x3F, chunks=b""):
    """Prefix of the ws_frames target: limits byte (bits 0-2 size index, 3-5 fragments),
    chunk count, chunk sizes."""
    return bytes([limits, len(chunks)]) + bytes(chunks) + stream


# limits byte: size index 7 (1e6) with 7 fragments = 0x3F; index 2 (5 bytes) = 0x3A;
# index 3 (125) with 2 fragments = 0x13; index 0 with 0 fragments = 0x00.
WS_FRAMES = [
    ws(frame(0x81, "Hello")),
    ws(bytes([0x81, 0x85]) + MASK + b"\x7f\x9f\x4d\x51\x58", chunks=[1, 3]),  # RFC 5.7, chunked
    ws(bytes([0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]) + MASK),  # W1
    ws(bytes([0x82, 0xFF, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]) + MASK, limits=0x3E),
    ws(frame(0x81, "x" * 300), limits=0x3B),  # W2 scaled: 300 bytes over a 126-byte limit
    ws(frame(0x01, "a" * 10) + frame(0x00, "b" * 10) * 8 + frame(0x80, "c")),  # W3 scaled
    ws(frame(0x01, b"") + frame(0x00, b"") * 12 + frame(0x80, b""), limits=0x13),  # W4 scaled
    ws(frame(0x81, "40", masked=False)),  # W5
    ws(frame(0xC1, "40")), ws(frame(0xA1, "40")), ws(frame(0x91, "40")),  # W6
    ws(frame(0x83, "x") + frame(0x8B, "x")),  # W7
    ws(frame(0x89, "p" * 126)), ws(frame(0x09, "p")),  # W8
    ws(frame(0x80, "x")), ws(frame(0x01, "a") + frame(0x81, "b")),  # W9
    ws(frame(0x81, b"\xc0\xaf")), ws(frame(0x81, b"\xed\xa0\x80")),  # W10
    ws(frame(0x01, "\U0001f600".encode()[:2]) + frame(0x80, "\U0001f600".encode()[2:]), chunks=[5]),
    ws(frame(0x01, "\U0001f600".encode()[:2]) + frame(0x80, b"a")),
    ws(frame(0x88, b"\x03")),  # W11
    ws(b"".join(frame(0x88, struct.pack(">H", c)) for c in (999, 1004, 1005, 1006, 1015, 5000))),
    ws(frame(0x88, b"\x03\xe8\xc0\xaf")), ws(frame(0x88, b"\x03\xe8bye")), ws(frame(0x88)),
    ws(frame(0x89, "1") * 20, chunks=[0, 7, 1]),  # W12 scaled
    ws(frame(0x82, b"\x01\x02") + frame(0x82, b"")),  # W13
    ws(frame(0x81, b"") + frame(0x81, "9")),  # W14
    ws(frame(0x02, "a") + frame(0x89, "1") + frame(0x00, "b") + frame(0x8A, "2") + frame(0x80, "c"),
       chunks=[2, 9, 4]),
    ws(frame(0x81, "42[\"m\"]") + bytes([0x81, 0x85]) + MASK[:2], chunks=[3]),  # W17: cut mid-frame
    ws(frame(0x82, "z" * 200), limits=0x3D),  # 16-bit length path under a 65,535 limit
    ws(frame(0x01, "ab") + frame(0x00, "cd"), limits=0x02),  # fragments over max_fragments = 0
]

# ---------------------------------------------------------------- WebSocket handshake (H10-H12)
UP, CONN, VER, KEY, PROTO, EXT, ORIGIN, HOST = (bytes([i]) for i in range(8))
GOOD = [UP + b"websocket", CONN + b"Upgrade", VER + b"13", KEY + b"dGhlIHNhbXBsZSBub25jZQ=="]


def hs(*lines):
    return b"\n".join(lines)


WS_HANDSHAKE = [
    hs(*GOOD),
    hs(b"upgrade: websocket", b"connection: keep-alive, Upgrade", b"sec-websocket-version: 13",
       b"sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ=="),
    hs(*GOOD, PROTO + b"a" + b" " * 600 + b",b"),  # H10 scaled
    hs(*GOOD, EXT + b"constructor; __proto__=1"),  # H11
    hs(*GOOD, EXT + b"permessage-deflate; client_max_window_bits=100"),
    hs(GOOD[0], GOOD[1], VER + b"8", GOOD[3]),  # H12
    hs(GOOD[0], GOOD[1], GOOD[2]),  # key missing
    hs(GOOD[0], GOOD[1], GOOD[2], KEY + b"dGhlIHNhbXBsZQ=="),  # 10 bytes of base64
    hs(*GOOD, KEY + b"x3JJHMbDL1EzLkh9GBhXDw=="),  # key twice
    hs(GOOD[0], GOOD[1], GOOD[2], KEY + b"dGhlIHNhbXBsZSBub25jZR=="),  # non-canonical
    hs(UP + b"h2c", GOOD[1], GOOD[2], GOOD[3]),  # H13
    hs(UP + b"foo, WebSocket", CONN + b"keep-alive,\tupgrade ", GOOD[2], GOOD[3]),
    hs(*GOOD, ORIGIN + b"http://a\x01b", HOST + b"example.com"),  # H14 (refused by http)
    hs(*GOOD, VER + b"13"),  # version twice
]

# ---------------------------------------------------------------- Socket.IO packets (S, B)
SIO_PACKET = [
    "0", "0/admin,{\"token\":\"123\"}", "1/admin,", "2[\"foo\"]", "2/admin,456[\"project:delete\",123]",
    "3/admin,456[]", "42[\"m\"]", "2/other,[\"m\"]", "1/other",  # S1-S3 (without the EIO 4)
    "7", "9", "4{\"message\":\"x\"}", "4abc",  # S4
    "2{}", "2\"x\"", "2[]", "2null", "2[\"m\",]",  # S5
    "2[{\"toString\":\"x\"}]", "2[null]", "2[true]", "2[1,2]",  # S6, S7
    "2[\"disconnect\",\"fake\"]", "2[\"connect\"]", "2[\"connect_error\"]", "2[\"disconnecting\"]",
    "2[\"newListener\"]", "2[\"removeListener\"]", "2[\"error\"]", "2[\"error\",{\"x\":1}]",  # S8, S9
    "2abc[\"m\"]", "2-1[\"m\"]", "2 1[\"m\"]", "212345678901234567890123[\"message-with-ack\"]",
    "29007199254740991[\"m\"]", "29007199254740992[\"m\"]",  # S10, S11
    "3999[\"x\"]",  # S12
    "0/" + "n" * 200, "0/../admin", "0//", "0/a\u0000", "0nsp", "0/nsp?x=1,{}",  # S13 scaled
    "0[1]", "0\"x\"", "0/c,1",  # S14
    "2[\"m\"," + "[" * 200 + "]" * 200 + "]",  # S18 scaled
    "2[\"m\",1e400]", "2[\"m\",-0]", "2[\"m\"," + "1" * 400 + "]",  # S19 scaled
    "2[\"\\ud800\"]", "2[\"m\",{\"__proto__\":{\"admin\":true}}]",  # S20, S21
    "511-[\"m\"]", "5-[\"m\"]", "5a-[\"m\"]", "50-[\"m\"]", "5-1-[\"m\"]",
    "599999999999999999999-[\"m\"]", "51[\"m\"]",  # B1, B2
    "52-[\"m\",{\"_placeholder\":true,\"num\":5}]",  # B3
    "52-[\"m\",{\"_placeholder\":true,\"num\":\"splice\"}]", "52-[\"m\",{\"_placeholder\":true,\"num\":-1}]",
    "52-[\"m\",{\"_placeholder\":true,\"num\":1.5}]", "52-[\"m\",{\"_placeholder\":true,\"num\":null}]",
    "52-[\"m\",{\"_placeholder\":true,\"num\":\"0\"}]", "51-[\"m\",{\"_placeholder\":\"true\",\"num\":0}]",
    "51-[\"m\",{\"_placeholder\":1,\"num\":0}]",  # B4
    "52-[\"m\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":0}]",  # B5
    "510-[\"m\"]", "51-[\"m\"]",  # B6, B10
    "51-[\"m\",{\"_placeholder\":true,\"num\":0}]", "61-7[{\"_placeholder\":true,\"num\":0}]",  # B11, B12
    "51-[\"m\"," + "{\"a\":" * 150 + "{\"_placeholder\":true,\"num\":0}" + "}" * 150 + "]",  # B13 scaled
    "51-/admin,12[\"m\",{\"a\":[{\"_placeholder\":true,\"num\":0}]}]",
]

# ---------------------------------------------------------------- msgpack values (M, X1, X2)
# Messages of Node's Redis adapter and emitter as notepack.io writes them, and the msgpack rows
# of the catalogue at value level (depth scaled down, declared lengths past the end).
VALUE_MSGPACK = [
    bytes.fromhex("93a6416231324364" "83a47479706502a46461746193a57072696365" "cb4029000000000000"
                  "c402dead" "a36e7370a12f" "83a5726f6f6d7391a441434d45a6657863657074"
                  "91a56d75746564a5666c61677381a8766f6c6174696c65c3"),
    bytes.fromhex("85a3756964a6416231324364a9726571756573744964a678593977513101a474797065"
                  "07a67061636b657483a47479706502a46461746192a4706f6c6c01a36e7370a62f61646d696e"
                  "a46f70747383a5726f6f6d7390a6657863657074" "90a5666c61677381a774696d656f7574cd07d0"),
    b"\xc0", b"\xc2", b"\xc3", b"\x7f", b"\xe0", b"\xcb\x3f\xf8\0\0\0\0\0\0",
    b"\xca\x3f\xc0\0\0", b"\xcf" + b"\xff" * 8, b"\xd3" + b"\x80" + b"\0" * 7,
    b"\xd4\x00\x00", b"\xd6\xff\x5f\x5e\x10\x00", b"\xd7\xff" + b"\xff" * 8,
    b"\xc7\x0c\xff" + b"\0" * 12, b"\xc7\x03\x00\x01\x02\x03", b"\xd8\x05" + b"\x11" * 16,
    b"\x83\xa1a\x01\xa1b\x02\xa1a\x03", b"\x81\x01\xa1a", b"\x81\xcb\x3f\xf8\0\0\0\0\0\0\xa1a",
    b"\xa3\xff\x61\x62",
    b"\x91" * 200 + b"\xc0",  # M1 scaled
    b"\xdb\xff\xff\xff\xff", b"\xda\xff\xff\x61", b"\xd9\xff\x61", b"\xc6\xff\xff\xff\xff",
    b"\xc9\xff\xff\xff\xff", b"\xdd\xff\xff\xff\xff",  # M2
    b"\x81\xa2id",  # M3
    b"\xdf\xff\xff\xff\xff" + b"\0" * 10,  # M10
    b"\xde\x00\x20" + b"".join(bytes([0xa2, 0x6b, 0x30 + i % 10]) + b"\xc0" for i in range(32)),
    b"\xc1", b"\xc0\xc0", b"",
]

# ---------------------------------------------------------------- msgpack packets (M, socket.io-msgpack-parser)
# What socket.io-client with socket.io-msgpack-parser sends (notepack.io: a map {type, data,
# nsp, id, options}), then the msgpack rows of the catalogue at packet level.
def mstr(s):
    s = s.encode("utf-8")
    return bytes([0xA0 | len(s)]) + s


def mpacket(*entries):
    return bytes([0x80 | len(entries)]) + b"".join(mstr(k) + v for k, v in entries)


EVENT_HEAD = (("type", b"\x02"), ("nsp", mstr("/")))
SIO_MSGPACK = [
    mpacket(("type", b"\x00"), ("nsp", mstr("/"))),
    mpacket(("type", b"\x00"), ("nsp", mstr("/admin")), ("data", b"\x81" + mstr("token") + mstr("x"))),
    mpacket(("type", b"\x01"), ("nsp", mstr("/"))),
    mpacket(("type", b"\x02"), ("data", b"\x92" + mstr("echo") + b"\x01"), ("nsp", mstr("/")),
            ("options", b"\x81" + mstr("compress") + b"\xc3")),
    mpacket(*EVENT_HEAD, ("data", b"\x94" + mstr("m") + b"\xcb\x3f\xf8\0\0\0\0\0\0\xc4\x03abc\xd4\x00\x00"), ("id", b"\x07")),
    mpacket(*EVENT_HEAD, ("data", b"\x92\x2a\xc0"), ("id", b"\xcd\x01\x00")),
    mpacket(("type", b"\x03"), ("nsp", mstr("/")), ("data", b"\x91" + mstr("ok")), ("id", b"\x00")),
    mpacket(*EVENT_HEAD, ("data", b"\x92" + mstr("m") + b"\x81" + mstr("k") + b"\x93\x01\xc2\xa0")),
    mpacket(("type", b"\x04"), ("nsp", mstr("/")), ("data", mstr("x"))),
    mpacket(("type", b"\x05"), ("nsp", mstr("/")), ("data", b"\x91" + mstr("m"))),
    mpacket(*EVENT_HEAD, ("data", b"\x91" + mstr("disconnect"))),
    mpacket(*EVENT_HEAD, ("data", b"\x90")),
    mpacket(*EVENT_HEAD, ("data", mstr("m"))),
    mpacket(*EVENT_HEAD, ("data", b"\x91" + mstr("m")), ("id", b"\xc0")),
    mpacket(*EVENT_HEAD, ("data", b"\x91" + mstr("m")), ("id", b"\xff")),
    mpacket(*EVENT_HEAD, ("data", b"\x92" + mstr("m") + b"\x91" * 200 + b"\xc0")),  # M1 scaled
    mpacket(*EVENT_HEAD, ("data", b"\x92" + mstr("m") + b"\xc6\xff\xff\xff\xff\x01")),  # M2
    mpacket(*EVENT_HEAD, ("data", b"\xdd\xff\xff\xff\xff")),
    mpacket(("type", b"\x02"), ("nsp", b"\xdb\xff\xff\xff\xff/")),
    b"\x93\x02\x90\xa1/", b"\xdf\xff\xff\xff\xff" + b"\0" * 10, b"\xc1", b"\xc0", b"",
]

# ---------------------------------------------------------------- permessage-deflate (ws_inflate)
def inflate_seed(limits, agreed, *messages):
    """`[limits] [agreed] (flags len data)*`: see fuzz_targets/ws_inflate.rs."""
    out = bytes([limits, agreed])
    for flags, data in messages:
        data = b(data)[:255]
        out += bytes([flags, len(data)]) + data
    return out


# RFC 7692 §7.2.3.1 "Hello", a stored block, a bomb-like run of zeros, a reserved block type.
HELLO_Z = bytes([0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])
STORED = bytes([0x00, 0x05, 0x00, 0xFA, 0xFF]) + b"Hello" + b"\x00"
WS_INFLATE = [
    inflate_seed(5, 0, (0b0001, HELLO_Z), (0b0001, bytes([0xF2, 0x00, 0x11, 0x00, 0x00]))),
    inflate_seed(5, 1, (0b0001, STORED)),
    inflate_seed(3, 0, (0b0011, '42["message","hello"]'), (0b0101, HELLO_Z)),
    inflate_seed(4, 14, (0b1111_0010, bytes(200)), (0b0010, b"binary data")),
    inflate_seed(2, 0, (0b0001, b"\xff\xff\xff\x00")),
    inflate_seed(5, 0, (0b1001, "not compressed"), (0b0001, HELLO_Z)),
    inflate_seed(7, 6, (0b0011, "\u00e9\U0001d54a text"), (0b0011, b"\xff\xfe")),
]

TARGETS = {
    "eio_packet": EIO_PACKET,
    "eio_payload_v4": EIO_PAYLOAD_V4,
    "eio_payload_v3": EIO_PAYLOAD_V3,
    "ws_frames": WS_FRAMES,
    "ws_inflate": WS_INFLATE,
    "ws_handshake": WS_HANDSHAKE,
    "sio_packet": SIO_PACKET,
    "value_msgpack": VALUE_MSGPACK,
    "sio_msgpack": SIO_MSGPACK,
}


def main():
    total = 0
    for target, inputs in TARGETS.items():
        d = os.path.join(CORPUS, target)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for data in map(b, inputs):
            name = hashlib.sha1(data).hexdigest()
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
            total += len(data)
        print(f"{target}: {len(inputs)} seeds")
    print(f"total {total} bytes")


if __name__ == "__main__":
    main()
