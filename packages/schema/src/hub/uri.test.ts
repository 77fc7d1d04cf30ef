import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { globBase, globToRegExp, parseHfUri, parseRepoId } from "./uri.js";

const seg = fc.stringMatching(/^[A-Za-z0-9][\w.-]{0,8}$/).filter((s) => s !== "." && s !== "..");
const rev = fc.oneof(fc.constant("main"), fc.stringMatching(/^[0-9a-f]{40}$/), fc.constantFrom("refs/convert/parquet", "refs/pr/3", "v1.0"));

describe("hf:// URIs", () => {
  it("parse back the repo, revision (URL-encoded when it has /) and path they were built from", () => {
    fc.assert(
      fc.property(seg, seg, rev, fc.array(seg, { maxLength: 4 }), fc.boolean(), (org, name, r, parts, dataset) => {
        const p = parts.join("/");
        const uri = `hf://${dataset ? "datasets/" : ""}${org}/${name}@${encodeURIComponent(r)}${p ? "/" + p : ""}`;
        expect(parseHfUri(uri)).toEqual({ type: dataset ? "dataset" : "model", repo: `${org}/${name}`, revision: r, path: p });
      }),
    );
    expect(parseHfUri("hf://datasets/org/med/data/a.jsonl")).toEqual({ type: "dataset", repo: "org/med", revision: "main", path: "data/a.jsonl" });
    expect(() => parseHfUri("hf://datasets/org")).toThrow(/names no repo/);
    expect(() => parseHfUri("hf://datasets/org/med/../x")).toThrow(/".."/);
    expect(() => parseHfUri("hf://spaces/org/app/x")).toThrow(/Spaces/);
    // An empty or badly encoded revision is a typo to report, not `main` or a bare URIError.
    expect(() => parseHfUri("hf://datasets/org/med@/a.csv")).toThrow(/"hf:\/\/datasets\/org\/med@\/a\.csv": empty revision/);
    expect(() => parseHfUri("hf://datasets/org/med@%zz/a.csv")).toThrow(/"hf:\/\/datasets\/org\/med@%zz\/a\.csv": the revision "%zz" is not valid URL encoding/);
    expect(() => parseRepoId("org/model@")).toThrow(/empty revision/);
    expect(parseRepoId("Qwen/Qwen2.5-7B@main")).toEqual({ type: "model", repo: "Qwen/Qwen2.5-7B", revision: "main", path: "" });
    expect(parseRepoId("runs")).toBeUndefined();
    expect(parseRepoId("./runs/sft")).toBeUndefined();
  });

  it("globs: * and ? stay inside a folder, ** crosses folders, [..] is a class", () => {
    fc.assert(
      fc.property(fc.array(seg, { minLength: 1, maxLength: 4 }), seg, (dirs, file) => {
        const p = [...dirs, `${file}.jsonl`].join("/");
        expect(globToRegExp([...dirs, "*.jsonl"].join("/")).test(p)).toBe(true);
        expect(globToRegExp(`${dirs[0]}/**/*.jsonl`).test(p)).toBe(dirs.length >= 1);
        expect(globToRegExp("*.jsonl").test(p)).toBe(false); // at least one folder deep
        expect(globToRegExp("**/*.jsonl").test(p)).toBe(true);
        expect(globBase([...dirs, "*.jsonl"].join("/"))).toBe(dirs.join("/"));
      }),
    );
    expect(globToRegExp("data/train-0000[0-2].parquet").test("data/train-00001.parquet")).toBe(true);
    expect(globToRegExp("data/train-0000[!0-2].parquet").test("data/train-00001.parquet")).toBe(false);
    expect(globToRegExp("data/?.csv").test("data/ab.csv")).toBe(false);
    expect(globToRegExp("a+b/(x).json").test("a+b/(x).json")).toBe(true);
  });
});
