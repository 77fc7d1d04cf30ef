/** Stage 4, `filter`: input shard i → kept and removed lines of shard i (bytes copied unchanged) + per-source counts. */
import { stat } from "node:fs/promises";
import { AtomicFile } from "@sfmed/schema/io";
import { DedupError } from "../errors.js";
import { layout, readMarker, type TaskMarker } from "./layout.js";
import { asInt32, ParquetIn } from "./parquet-io.js";
import type { ShardPlan } from "./plan.js";
import { shardLines } from "./shard-lines.js";

export interface SourceCounts {
  input: number;
  kept: number;
  removed: number;
}

const LF = Uint8Array.of(10);

/** Run the filter task of shard `shard`. */
export async function filterShard(workdir: string, plan: ShardPlan, shard: number): Promise<Omit<TaskMarker, "seconds" | "peakRssBytes">> {
  const rq = await ParquetIn.open(layout.removed(workdir, shard));
  const removed = asInt32((await rq.read(["doc"], 0, rq.rows)).doc!);
  const docsPq = await ParquetIn.open(layout.docs(workdir, shard));
  const expected = Number((await readMarker(workdir, "sign", shard))?.data?.docs ?? 0);
  const files = plan.inputs.map((f) => f.file);
  const kept = new AtomicFile(layout.kept(workdir, shard));
  const gone = new AtomicFile(layout.removedLines(workdir, shard));
  const perSource: Record<string, SourceCounts> = {};
  let d = 0;
  let r = 0;
  let group = -1;
  let sources: ArrayLike<unknown> = [];
  let groupStart = 0;
  const starts = docsPq.groupStarts();
  try {
    for await (const line of shardLines(files, plan.shards[shard]!)) {
      if (d >= expected) throw new DedupError("more records than the sign stage saw: an input changed", { code: "INPUT_CHANGED", file: files[line.file] });
      // the doc index's source column, read a row group at a time alongside the lines
      while (d >= groupStart + sources.length) {
        group++;
        sources = (await docsPq.readGroup(["source"], group)).source!;
        groupStart = starts[group]!;
      }
      const src = String(sources[d - groupStart] ?? "");
      const c = (perSource[src] ??= { input: 0, kept: 0, removed: 0 });
      c.input++;
      const isRemoved = r < removed.length && removed[r] === d;
      if (isRemoved) r++;
      const out = isRemoved ? gone : kept;
      if (isRemoved) c.removed++;
      else c.kept++;
      await out.write(line.bytes);
      await out.write(LF);
      d++;
    }
    if (d !== expected) throw new DedupError(`${d} records, but the sign stage saw ${expected}: an input changed`, { code: "INPUT_CHANGED" });
    await kept.commit();
    await gone.commit();
  } catch (err) {
    await Promise.all([kept.abort(), gone.abort()]);
    throw err;
  }
  const bytesWritten = (await stat(layout.kept(workdir, shard))).size + (await stat(layout.removedLines(workdir, shard))).size;
  return { stage: "filter", task: shard, bytesWritten, stats: { input: d, kept: d - r, removed: r }, data: { perSource } };
}
