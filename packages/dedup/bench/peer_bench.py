"""rensa and gaoya sides of bench/vs-peers.ts: the same corpus, the same normalisation (NFKC, lower case, letters
and digits only) and character 5-gram shingles as sfmed and bench/datasketch_bench.py, each library used as its
README shows, threshold 0.8, 128 permutations; kept = query, then insert when nothing similar was found.

usage: peer_bench.py rensa|gaoya CORPUS.jsonl OUT_DIR
Prints one JSON line: timings (inside the process, after imports), peak RSS, counts.

rensa 0.5: RMinHash.from_token_sets (its batch API: all documents' shingle lists in one call, R-MinHash,
  multi-threaded), RMinHashLSH(threshold=0.8, num_perm=128, num_bands=16), query then insert, candidates checked
  with RMinHash.jaccard >= 0.8 as in its deduplication example.
gaoya 0.2: MinHashStringIndex(hash_size=32, jaccard_threshold=0.8, num_bands=16, band_size=8, analyzer="char",
  ngram_range=(5, 5)) over the normalised texts; par_bulk_insert_docs, then par_bulk_query (both multi-threaded,
  results already filtered by estimated Jaccard); a document is removed when an earlier kept one is among its
  results."""
import json, os, resource, sys, time
from importlib.metadata import version

from peer_common import NUM_PERM, N, T, cpu_seconds, normalize, shingles


def read(corpus):
    lines, texts = [], []
    with open(corpus, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                lines.append(line)
                texts.append(normalize(json.loads(line)["text"]))
    return lines, texts


def run_rensa(texts):
    from rensa import RMinHash, RMinHashLSH

    sets = [shingles(t) for t in texts]
    hashes = RMinHash.from_token_sets(sets, NUM_PERM, 42)
    t1 = time.perf_counter()
    lsh = RMinHashLSH(T, NUM_PERM, 16)
    kept = []
    for i, m in enumerate(hashes):
        if not sets[i]:
            kept.append(i)
            continue
        if any(m.jaccard(hashes[j]) >= T for j in lsh.query(m)):
            continue
        lsh.insert(i, m)
        kept.append(i)
    return kept, t1, "rensa " + version("rensa")


def run_gaoya(texts):
    from gaoya.minhash import MinHashStringIndex

    index = MinHashStringIndex(hash_size=32, jaccard_threshold=T, num_bands=16, band_size=8, analyzer="char", lowercase=False, ngram_range=(N, N))
    ids = [i for i, t in enumerate(texts) if t]
    index.par_bulk_insert_docs(ids, [texts[i] for i in ids])
    t1 = time.perf_counter()
    results = index.par_bulk_query([texts[i] for i in ids])
    removed = set()
    for i, found in zip(ids, results):
        if any(j < i and j not in removed for j in found):
            removed.add(i)
    kept = [i for i in range(len(texts)) if i not in removed]
    return kept, t1, "gaoya " + version("gaoya")


def main():
    tool, corpus, out = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(out, exist_ok=True)
    t0 = time.perf_counter()
    lines, texts = read(corpus)
    kept, t1, name = (run_rensa if tool == "rensa" else run_gaoya)(texts)
    t2 = time.perf_counter()
    with open(os.path.join(out, "kept.jsonl"), "w", encoding="utf-8") as g:
        for i in kept:
            g.write(lines[i])
    with open(os.path.join(out, "report.json"), "w") as g:
        json.dump({"input": len(lines), "kept": len(kept), "removed": len(lines) - len(kept)}, g)
    t3 = time.perf_counter()
    print(json.dumps({
        "tool": name,
        "docs": len(lines),
        "signatures_s": t1 - t0,
        "lsh_s": t2 - t1,
        "total_s": t3 - t0,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "cpu_s": cpu_seconds(),
        "removed": len(lines) - len(kept),
    }))


if __name__ == "__main__":
    main()
