#!/usr/bin/python3
# lf-loop.py DEV pull|unpull: the loop device's offset beyond the end of
# its file (every I/O fails, as for a stick that is gone), or back to 0.
import fcntl, os, struct, sys

LOOP_SET_STATUS64, LOOP_GET_STATUS64 = 0x4C04, 0x4C05


def set_offset(dev, off):
    fd = os.open(dev, os.O_RDONLY)
    try:
        info = bytearray(232)  # struct loop_info64
        fcntl.ioctl(fd, LOOP_GET_STATUS64, info, True)
        struct.pack_into("<Q", info, 24, off)  # lo_offset
        fcntl.ioctl(fd, LOOP_SET_STATUS64, bytes(info))
    finally:
        os.close(fd)


if __name__ == "__main__":
    set_offset(sys.argv[1], 1 << 40 if sys.argv[2] == "pull" else 0)
