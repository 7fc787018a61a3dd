#!/usr/bin/python3
# lf-mounts.py OUT SOURCE: until killed, record every mount whose source
# is SOURCE or below it (SOURCE/...), once: "source mountpoint".
import sys, time

out, src = sys.argv[1], sys.argv[2]
seen = set()
with open(out, "w", buffering=1) as f:
    f.write("ready\n")
    while True:
        with open("/proc/self/mounts") as m:
            for line in m:
                fields = line.split()
                if fields[0] != src and not fields[0].startswith(src + "/"):
                    continue
                mp = fields[1].encode().decode("unicode_escape")
                if (fields[0], mp) not in seen:
                    seen.add((fields[0], mp))
                    f.write("%s %s\n" % (fields[0], mp))
        time.sleep(0.001)
