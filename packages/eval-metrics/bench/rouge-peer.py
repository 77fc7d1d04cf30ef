# rapidfuzz's side of bench/rouge.ts: a long-lived process answering one JSON command per line, so that
# its runs alternate with Node's. Commands: {"load": path} (JSON [[candidate, reference], ...] per set),
# {"run": set, "mode": "loop" | "cpdist1" | "cpdist2"} -> {"s": seconds}, {"lcs": set} -> {"lcs": [...]},
# {"rss": true} -> {"kib": peak RSS}.
import json
import resource
import sys
import time

import rapidfuzz
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

sets = []
sim = LCSseq.similarity


def run(pairs, mode):
    cands = [c for c, _ in pairs]
    refs = [r for _, r in pairs]
    t = time.perf_counter()
    if mode == "loop":
        for c, r in pairs:
            sim(c, r)
    else:
        process.cpdist(cands, refs, scorer=sim, workers=1 if mode == "cpdist1" else 2)
    return time.perf_counter() - t


print(json.dumps({"version": rapidfuzz.__version__}), flush=True)
for line in sys.stdin:
    cmd = json.loads(line)
    if "load" in cmd:
        with open(cmd["load"], encoding="utf-8") as f:
            sets = json.load(f)
        out = {"sets": len(sets)}
    elif "run" in cmd:
        out = {"s": run(sets[cmd["run"]], cmd["mode"])}
    elif "lcs" in cmd:
        out = {"lcs": [int(sim(c, r)) for c, r in sets[cmd["lcs"]]]}
    else:
        out = {"kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    print(json.dumps(out), flush=True)
