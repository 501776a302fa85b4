#!/usr/bin/env python3
"""tests/bench/cgself.py FILE [UNITS] [TOP]: self and inclusive instruction
counts per function (and per object) of a callgrind output, per unit (request
or chunk). Works on the files of forked children, which callgrind_annotate
(3.19) does not resolve. Used by tests/bench/profile.sh."""
import collections, sys

path = sys.argv[1]
units = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
top = int(sys.argv[3]) if len(sys.argv) > 3 else 30
names = {}
def name(kind, v):
    v = v.strip()
    if v.startswith("("):
        i = v.index(")")
        key = (kind, v[1:i])
        if v[i + 1:].strip():
            names[key] = v[i + 1:].strip()
        return names.get(key, v)
    return v

selfc = collections.Counter()
incl = collections.Counter()
objself = collections.Counter()
ob = fn = "?"
cob = None
after_calls = False
total = 0
for line in open(path, errors="replace"):
    line = line.rstrip("\n")
    if not line or line.startswith("#"):
        continue
    if line.startswith("ob="):
        ob = name("ob", line[3:]); continue
    if line.startswith("fn="):
        fn = name("fn", line[3:]); continue
    if line.startswith("cob="):
        name("ob", line[4:]); continue
    if line.startswith(("fl=", "fi=", "fe=")):
        name("fl", line[3:]); continue
    if line.startswith("cfn="):
        name("fn", line[4:]); continue
    if line.startswith(("cfi=", "cfl=")):
        name("fl", line[4:]); continue
    if line.startswith("calls="):
        after_calls = True; continue
    if line.startswith("summary:"):
        total = int(line.split()[1]); continue
    if line[0].isdigit() or line[0] in "+-*":
        parts = line.split()
        if len(parts) < 2:
            continue
        cost = int(parts[1])
        if after_calls:
            after_calls = False
            continue
        selfc[(ob.rsplit("/", 1)[-1], fn)] += cost
        objself[ob.rsplit("/", 1)[-1]] += cost
tot = sum(selfc.values()) or 1
print(f"total {tot:,} Ir, {tot/units:,.0f} per unit")
print("by object (self):")
for o, c in objself.most_common(12):
    print(f"  {c/units:10,.0f} {100*c/tot:5.1f}%  {o}")
print("by function (self):")
for (o, f), c in selfc.most_common(top):
    print(f"  {c/units:10,.0f} {100*c/tot:5.1f}%  {f} [{o}]")
