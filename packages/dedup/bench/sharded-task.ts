// One task of a sharded-dedup stage in its own process, as a job-array task runs it (for bench/sharded.ts):
//   node --import tsx --conditions=@sfmed/source packages/dedup/bench/sharded-task.ts WORKDIR STAGE INDEX
import { runStage, type Stage } from "../src/sharded/index.js";

const [workdir, stage, index] = process.argv.slice(2);
await runStage(workdir!, stage as Stage, Number(index));
