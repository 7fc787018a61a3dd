#!/usr/bin/python3
# lf-sample.py OUT TEXT...: until killed, record every process whose
# command line contains all TEXTs: pid, real/effective/saved/fs uids and
# gids, supplementary groups, command line (one line per process and
# credentials seen).
import os, sys, time

out, texts = sys.argv[1], [t.encode() for t in sys.argv[2:]]
seen = set()
with open(out, "w", buffering=1) as f:
    f.write("ready\n")
    while True:
        for p in os.listdir("/proc"):
            if not p.isdigit() or int(p) == os.getpid():
                continue
            try:
                with open("/proc/%s/cmdline" % p, "rb") as c:
                    cmd = c.read().replace(b"\0", b" ")
                if not all(t in cmd for t in texts):
                    continue
                cred = {}
                with open("/proc/%s/status" % p) as st:
                    for line in st:
                        k, _, v = line.partition(":")
                        if k in ("Uid", "Gid", "Groups"):
                            cred[k] = ",".join(v.split())
            except OSError:
                continue
            key = (p, cred.get("Uid"), cred.get("Gid"), cred.get("Groups"))
            if key in seen:
                continue
            seen.add(key)
            f.write("%s uid=%s gid=%s groups=%s cmd=%s\n" % (p, cred.get("Uid"),
                    cred.get("Gid"), cred.get("Groups"), cmd.decode("utf-8", "replace").strip()))
        time.sleep(0.001)
