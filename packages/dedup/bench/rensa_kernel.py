"""rensa side of bench/kernel-vs-rensa.ts: R-MinHash signatures (128 permutations) of the same shingle hashes.

usage: rensa_kernel.py HASHES.u32 OFFSETS.i64
Reads the flat uint32 shingle hashes and row offsets written by the TypeScript side, widens them to uint64 (rensa's
token-hash type) before the clock starts, runs one warm-up and one timed call of
RMinHash.digest_matrix_from_flat_token_hashes, and prints one JSON line (wall and CPU seconds). Threads: RAYON_NUM_THREADS (unset = all)."""
import json, sys, time

import numpy as np
import rensa
from importlib.metadata import version

flat = np.fromfile(sys.argv[1], dtype=np.uint32).astype(np.uint64)
offsets = np.fromfile(sys.argv[2], dtype=np.int64).astype(np.uint64)
docs = len(offsets) - 1
rensa.RMinHash.digest_matrix_from_flat_token_hashes(flat[: offsets[min(docs, 2000)]], offsets[: min(docs, 2000) + 1], 128, 1)
t, c = time.perf_counter(), time.process_time()
m = rensa.RMinHash.digest_matrix_from_flat_token_hashes(flat, offsets, 128, 1)
dt, dc = time.perf_counter() - t, time.process_time() - c
assert m.len() == docs
print(json.dumps({"tool": "rensa " + version("rensa"), "docs": docs, "s": dt, "cpu_s": dc}))
