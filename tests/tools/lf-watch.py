#!/usr/bin/python3
# lf-watch.py OUT SECONDS ACTION WHEN...: wait until WHEN holds, then do
# ACTION once; writes "ready" to OUT when it watches, then what it did.
#   WHEN: dir DIR TOTAL  -- DIR holds more than 0 and fewer than TOTAL
#                           entries (not counting nncpxfer* temp files)
#         proc TEXT [SEC] -- a process whose command line contains TEXT
#                           runs (and still runs SEC seconds later)
#   ACTION: pull DEV | kill (SIGKILL to the process found by "proc") |
#           stop (SIGSTOP to the parent of the process found by "proc":
#           the agent that started it, frozen at that very moment) |
#           note (only say that the moment came)
import fcntl, os, signal, struct, sys, time

out, limit, action = sys.argv[1], float(sys.argv[2]), sys.argv[3]
args = sys.argv[4:]
dev = None
if action == "pull":
    dev, args = args[0], args[1:]
    devfd = os.open(dev, os.O_RDONLY)  # opened now: no delay later
when = args[0]


def pull():
    info = bytearray(232)  # struct loop_info64, as in lf-loop.py
    fcntl.ioctl(devfd, 0x4C05, info, True)
    struct.pack_into("<Q", info, 24, 1 << 40)
    fcntl.ioctl(devfd, 0x4C04, bytes(info))


def procs(text):
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if text in cmd:
            yield int(p), cmd


def check():
    if when == "dir":
        try:
            n = len([e for e in os.listdir(args[1]) if not e.startswith("nncpxfer")])
        except OSError:
            return None
        return "%d of %s entries left" % (n, args[2]) if 0 < n < int(args[2]) else None
    for pid, cmd in procs(args[1]):
        if len(args) > 2:
            time.sleep(float(args[2]))
            if not os.path.exists("/proc/%d" % pid):
                return None
        return (pid, cmd)
    return None


with open(out, "w") as f:
    f.write("ready\n")
end = time.time() + limit
hit = None
while time.time() < end:
    hit = check()
    if hit:
        break
    time.sleep(0.0005)
with open(out, "a") as f:
    if not hit:
        f.write("timeout: the moment never came\n")
        sys.exit(1)
    if action == "pull":
        pull()
        f.write("pulled: %s\n" % (hit,))
    elif action == "note":
        f.write("seen: %s\n" % (hit,))
    elif action == "stop":
        with open("/proc/%d/stat" % hit[0]) as st:
            ppid = int(st.read().rsplit(")", 1)[1].split()[1])
        os.kill(ppid, signal.SIGSTOP)
        f.write("stopped %d, the parent of %d: %s\n" % (ppid, hit[0], hit[1]))
    else:
        try:
            os.kill(hit[0], signal.SIGKILL)
            f.write("killed %d: %s\n" % hit)
        except ProcessLookupError:
            f.write("gone before the kill: %d\n" % hit[0])
            sys.exit(1)
