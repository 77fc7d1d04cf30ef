"""datasketch side of bench/vs-datasketch.ts: the same corpus, the same normalisation and character 5-gram
shingles, MinHash + MinHashLSH used as the datasketch docs show (query, then insert if new).

usage: datasketch_bench.py CORPUS.jsonl OUT_DIR [--pairs PAIRS.bin]
Prints one JSON line with timings, peak RSS and counts. With --pairs, also writes the LSH candidate pairs of
an index holding every document (int64 i*n+j, i<j) for pair precision/recall (untimed)."""
import json, os, resource, sys, time

import numpy as np
import datasketch
from datasketch import MinHash, MinHashLSH

from peer_common import NUM_PERM, T, cpu_seconds, normalize, shingles


def main():
    corpus, out = sys.argv[1], sys.argv[2]
    pairs_out = sys.argv[sys.argv.index("--pairs") + 1] if "--pairs" in sys.argv else None
    os.makedirs(out, exist_ok=True)
    t0 = time.perf_counter()
    lines, hashes = [], []
    with open(corpus, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            rec = json.loads(line)
            lines.append(line)
            sh = shingles(normalize(rec["text"]))
            m = MinHash(num_perm=NUM_PERM)
            if sh:
                m.update_batch([x.encode("utf-8") for x in sh])
            hashes.append(m if sh else None)
    t1 = time.perf_counter()
    lsh = MinHashLSH(threshold=T, num_perm=NUM_PERM)
    kept = []
    for i, m in enumerate(hashes):
        if m is None:
            kept.append(i)
            continue
        if lsh.query(m):
            continue
        lsh.insert(i, m)
        kept.append(i)
    t2 = time.perf_counter()
    with open(os.path.join(out, "kept.jsonl"), "w", encoding="utf-8") as g:
        for i in kept:
            g.write(lines[i])
    report = {"input": len(lines), "kept": len(kept), "removed": len(lines) - len(kept), "bands": lsh.b, "rows": lsh.r}
    with open(os.path.join(out, "report.json"), "w") as g:
        json.dump(report, g)
    t3 = time.perf_counter()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n = len(lines)
    res = {
        "tool": f"datasketch {datasketch.__version__}",
        "docs": n,
        "signatures_s": t1 - t0,
        "lsh_s": t2 - t1,
        "write_s": t3 - t2,
        "total_s": t3 - t0,
        "peak_rss_mb": rss_mb,
        "cpu_s": cpu_seconds(),
        "removed": n - len(kept),
        "bands": lsh.b,
        "rows": lsh.r,
    }
    if pairs_out:
        full = MinHashLSH(threshold=T, num_perm=NUM_PERM)
        for i, m in enumerate(hashes):
            if m is not None:
                full.insert(i, m)
        pairs = set()
        for i, m in enumerate(hashes):
            if m is None:
                continue
            for j in full.query(m):
                if j > i:
                    pairs.add(i * n + j)
        np.array(sorted(pairs), dtype=np.int64).tofile(pairs_out)
        res["candidate_pairs"] = len(pairs)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
