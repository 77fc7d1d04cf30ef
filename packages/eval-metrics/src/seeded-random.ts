// The project's one seeded PRNG (mulberry32) lives in @sfmed/schema; the benches import it from here.
export { seededRandom } from "@sfmed/schema";
