import { describe, expect, it } from "vitest";
import { isEvent, isKnownEvent, parseEventLine } from "./events.js";

describe("trainer events", () => {
  it("an unknown event name passes through with its fields and is not a known event", () => {
    const e = parseEventLine('{"event":"grad_histogram","step":3,"bins":[1,2]}');
    expect(e).toEqual({ event: "grad_histogram", step: 3, bins: [1, 2] });
    expect(isKnownEvent(e!)).toBe(false);
    expect(isEvent(e!, "step")).toBe(false);
  });

  it("known names are recognised by isKnownEvent and matched by name by isEvent", () => {
    for (const name of ["start", "step", "eval", "checkpoint", "done", "error", "ready"]) {
      const e = parseEventLine(JSON.stringify({ event: name, path: "p", url: "u", step: 1 }))!;
      expect(isKnownEvent(e)).toBe(true);
      expect(isEvent(e, "step")).toBe(name === "step");
    }
  });

  it("stray prints are no events", () => {
    expect(parseEventLine("loading weights…")).toBeUndefined();
    expect(parseEventLine('{"no_event": 1}')).toBeUndefined();
  });
});
