#!/usr/bin/env python3
"""zcraft: hostile variants of a zfs send stream, for the scenarios.

    zcraft.py hide-in-object IN OUT PAD
        An OBJECT record's bytes 36..39 (padding to zfs-fuse, the raw
        bonus length to OpenZFS) swallow the rest of the stream, its end
        record and PAD zero bytes; a second end record follows.  A walk
        that sizes records the OpenZFS way sees one end record, zfs-fuse
        the first.
    zcraft.py hide-in-begin IN OUT PAD
        The same through the begin record's payload length.
    zcraft.py break-object IN OUT
        The first OBJECT record gets an object type no receiver knows:
        zfs receive gives up at once, long before the end.
    zcraft.py set-creation IN OUT TIME...
        The begin record of each snapshot in a plain or compound (-I)
        stream gets the next TIME (seconds since the epoch) as its
        creation time, which zfs receive gives the snapshot; every end
        record's checksum is made right again.  How the scenarios get
        snapshots that span years without moving the clock.
    zcraft.py bomb MIB OUT
        Not a stream: an OpenPGP compressed packet (bzip2) that expands to
        MIB MiB of a packet type gpg skips without a word, to be encrypted
        with gpg --no-literal.

Streams are read the way zfs-fuse reads them (native byte order, no
feature flags), and each end record's fletcher-4 checksum is made right
again, so that only the framing is wrong.
"""
import bz2
import struct
import sys

REC = 312


def u32(b, o):
    return struct.unpack_from('<I', b, o)[0]


def u64(b, o):
    return struct.unpack_from('<Q', b, o)[0]


def payload(rec):
    kind = u32(rec, 0)
    if kind == 0:
        return u32(rec, 4)
    if kind == 1:
        return (u32(rec, 28) + 7) & ~7
    if kind == 3:
        return u64(rec, 32)
    if kind == 7:
        return u64(rec, 16)
    return 0


def records(s):
    off, out = 0, []
    while off < len(s):
        p = payload(s[off:off + REC])
        out.append((off, u32(s, off), p))
        off += REC + p
    return out


def fletcher4(data):
    a = b = c = d = 0
    mask = (1 << 64) - 1
    for (w,) in struct.iter_unpack('<I', data):
        a = (a + w) & mask
        b = (b + a) & mask
        c = (c + b) & mask
        d = (d + c) & mask
    return struct.pack('<4Q', a, b, c, d)


def hidden_end(body, end_off, pad):
    body[end_off + 8:end_off + 40] = fletcher4(bytes(body[:end_off]))
    return bytes(body) + b'\0' * pad + bytes(body[end_off:end_off + REC])


def hide_in_object(s, pad):
    recs = records(s)
    off, _, p = next(r for r in recs if r[1] == 1 and r[2] > 0)
    end_off = recs[-1][0]
    body = bytearray(s)
    struct.pack_into('<I', body, off + 36,
                     p + (len(s) - (off + REC + p)) + pad)
    return hidden_end(body, end_off, pad)


def hide_in_begin(s, pad):
    end_off = records(s)[-1][0]
    body = bytearray(s)
    struct.pack_into('<I', body, 4, len(s) - REC + pad)
    return hidden_end(body, end_off, pad)


def break_object(s):
    off = next(r for r in records(s) if r[1] == 1)[0]
    body = bytearray(s)
    struct.pack_into('<I', body, off + 16, 0x7fff)
    return bytes(body)


def set_creation(s, times):
    body = bytearray(s)
    start = 0
    for off, kind, p in records(s):
        if kind == 0:
            start = off
            if u64(s, off + 16) & 3 != 2 and times:  # not a compound's header
                struct.pack_into('<Q', body, off + 24, times.pop(0))
        elif kind == 5:
            body[off + 8:off + 40] = fletcher4(bytes(body[start:off]))
    if times:
        sys.exit('zcraft: fewer snapshots in the stream than times')
    return bytes(body)


def bomb(mib):
    c = bz2.BZ2Compressor(9)
    out = bytearray([0xA3, 3])  # compressed packet, BZIP2, to the end
    out += c.compress(bytes([0xC0 | 60, 0xFF]) + struct.pack('>I', mib << 20))
    zeros = bytes(1 << 20)
    for _ in range(mib):
        out += c.compress(zeros)
    return bytes(out + c.flush())


def main(argv):
    cmd = argv[1]
    if cmd == 'bomb':
        data = bomb(int(argv[2]))
        out = argv[3]
    else:
        with open(argv[2], 'rb') as f:
            s = f.read()
        out = argv[3]
        if cmd == 'hide-in-object':
            data = hide_in_object(s, int(argv[4]))
        elif cmd == 'hide-in-begin':
            data = hide_in_begin(s, int(argv[4]))
        elif cmd == 'set-creation':
            data = set_creation(s, [int(t) for t in argv[4:]])
        elif cmd == 'break-object':
            data = break_object(s)
        else:
            sys.exit('zcraft: unknown command ' + cmd)
    with open(out, 'wb') as f:
        f.write(data)


if __name__ == '__main__':
    main(sys.argv)
