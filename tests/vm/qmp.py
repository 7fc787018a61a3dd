#!/usr/bin/python3
"""tests/vm/qmp.py SOCKET COMMAND ...: talk to a guest's QEMU over QMP.

  plug ID IMAGE SERIAL   attach IMAGE (raw) as a USB mass-storage device
                         (usb-storage on the xHCI bus "xhci.0"), removable,
                         named ID, with the serial number SERIAL
  unplug ID [SECONDS]    pull it: device_del, wait for QEMU's DEVICE_DELETED
                         event (default 20 s), then drop its block node
  run NAME [JSON]        any QMP command; prints its return value as JSON

QMP is JSON lines over the unix socket: a greeting, qmp_capabilities, then
commands; events arrive interleaved with the answers.  Exit status 0 on
success, 1 when QEMU answers with an error or does not answer in time.
"""

import json
import socket
import sys
import time


class QMPError(Exception):
    pass


class QMP:
    def __init__(self, path, timeout=20):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.file = self.sock.makefile("r")
        self.events = []
        self.read()  # the greeting
        self.cmd("qmp_capabilities")

    def read(self):
        line = self.file.readline()
        if not line:
            raise QMPError("QEMU closed the monitor")
        return json.loads(line)

    def cmd(self, name, args=None):
        req = {"execute": name}
        if args:
            req["arguments"] = args
        self.sock.sendall(json.dumps(req).encode() + b"\n")
        while True:
            msg = self.read()
            if "event" in msg:
                self.events.append(msg)
            elif "error" in msg:
                raise QMPError("%s: %s" % (name, msg["error"].get("desc", msg["error"])))
            elif "return" in msg:
                return msg["return"]

    def wait_event(self, name, match, seconds):
        deadline = time.monotonic() + seconds
        while True:
            for ev in self.events:
                if ev["event"] == name and match(ev.get("data", {})):
                    return ev
            self.events.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise QMPError("no %s event within %s s" % (name, seconds))
            self.sock.settimeout(left)
            try:
                msg = self.read()
            except socket.timeout:
                raise QMPError("no %s event within %s s" % (name, seconds))
            if "event" in msg:
                self.events.append(msg)


def plug(q, dev_id, image, serial):
    q.cmd("blockdev-add", {"driver": "raw", "node-name": dev_id,
                           "file": {"driver": "file", "filename": image}})
    try:
        q.cmd("device_add", {"driver": "usb-storage", "bus": "xhci.0", "drive": dev_id,
                             "id": dev_id, "serial": serial, "removable": True})
    except QMPError:
        q.cmd("blockdev-del", {"node-name": dev_id})
        raise


def unplug(q, dev_id, seconds):
    q.cmd("device_del", {"id": dev_id})
    q.wait_event("DEVICE_DELETED", lambda d: d.get("device") == dev_id, seconds)
    q.cmd("blockdev-del", {"node-name": dev_id})


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    path, command, args = argv[1], argv[2], argv[3:]
    try:
        q = QMP(path)
        if command == "plug" and len(args) == 3:
            plug(q, *args)
        elif command == "unplug" and len(args) in (1, 2):
            unplug(q, args[0], float(args[1]) if len(args) == 2 else 20)
        elif command == "run" and len(args) in (1, 2):
            ret = q.cmd(args[0], json.loads(args[1]) if len(args) == 2 else None)
            print(json.dumps(ret))
        else:
            sys.exit(__doc__)
    except (OSError, QMPError, ValueError) as e:
        sys.exit("qmp %s %s: %s" % (command, " ".join(args), e))


if __name__ == "__main__":
    main(sys.argv)
