import { describe, expect, it } from "vitest";
import { DedupError } from "../errors.js";
import { lshParams } from "../lsh-params.js";
import { NORMALIZATION } from "../normalize-text.js";
import { resolveParams } from "./params.js";

describe("resolveParams", () => {
  it("fills the documented defaults and picks the banding for the threshold", () => {
    const p = resolveParams({ threads: 3 }, false);
    const { bands, rows, recallAtThreshold } = lshParams({ threshold: 0.8, numPerm: 128 });
    expect(p).toMatchObject({ threshold: 0.8, numPerm: 128, ngram: 5, seed: 1, verify: "exact", keep: "first", perSource: false, giantLimit: 1000, batchSize: 1024 });
    expect(p).toMatchObject({ bands, rows, recallAtThreshold, threads: 3, normalization: NORMALIZATION, needIds: false, needLengths: false });
  });

  it("takes bands × rows as given, with the recall they imply", () => {
    const p = resolveParams({ threshold: 0.5, bands: 10, rows: 3 }, false);
    expect([p.bands, p.rows]).toEqual([10, 3]);
    expect(p.recallAtThreshold).toBeCloseTo(1 - (1 - 0.5 ** 3) ** 10, 12);
  });

  it("collects what the policy and the index need; a custom normaliser keeps to the calling thread", () => {
    expect(resolveParams({ keep: "longest" }, false)).toMatchObject({ needLengths: true, needIds: false });
    expect(resolveParams({ keep: () => 0 }, false)).toMatchObject({ needLengths: true, needIds: true });
    expect(resolveParams({ saveIndex: "x" }, false)).toMatchObject({ needIds: true });
    expect(resolveParams({ threads: 4, normalize: (s: string) => s }, true)).toMatchObject({ threads: 0, normalization: "custom" });
  });

  it.each([
    [{ threshold: 0 }, "threshold"],
    [{ threshold: 1.01 }, "threshold"],
    [{ numPerm: 1.5 }, "numPerm"],
    [{ ngram: 0 }, "ngram"],
    [{ verify: "maybe" as never }, "verify"],
    [{ keep: "shortest" as never }, "keep"],
    [{ bands: 20, rows: 7 }, "bands"],
    [{ bands: 4 }, "bands"],
  ])("rejects %j as BAD_OPTION naming the option", (options, field) => {
    const err = (() => {
      try {
        resolveParams(options, false);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(DedupError);
    expect(err).toMatchObject({ code: "BAD_OPTION", field });
  });
});
