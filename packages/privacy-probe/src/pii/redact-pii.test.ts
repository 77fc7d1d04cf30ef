import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { PrivacyProbeError } from "../errors.js";
import { validResidentId } from "./pii-generators.test-helpers.js";
import { redactPii } from "./redact-pii.js";
import { scanPii } from "./scan-pii.js";

const text = "患者张某，身份证11010519491231002X，手机138-0013-8000，邮箱zs@example.com，血压140/90mmHg。";

describe("redactPii", () => {
  it("tags every finding with its Chinese label", () => {
    expect(redactPii(text).text).toBe("患者张某，身份证[身份证号]，手机[手机号]，邮箱[电子邮箱]，血压140/90mmHg。");
  });

  it("masks characters but keeps separators and the chosen ends", () => {
    expect(redactPii("手机138-0013-8000", { mode: "mask", keepStart: 3, keepEnd: 4 }).text).toBe("手机138-****-8000");
    expect(redactPii("身份证11010519491231002X", { mode: "mask" }).text).toBe("身份证******************");
  });

  it("hashes stably with a salt, differently with another salt, and equal values written differently alike", () => {
    const a = redactPii("手机13800138000", { mode: "hash", salt: "s1" }).text;
    const b = redactPii("电话 +86 138 0013 8000", { mode: "hash", salt: "s1" }).text;
    const c = redactPii("手机13800138000", { mode: "hash", salt: "s2" }).text;
    expect(a).toMatch(/^手机\[手机号:[0-9a-f]{12}\]$/);
    expect(b.endsWith(a.slice(2))).toBe(true);
    expect(c).not.toBe(a);
  });

  it("refuses hash mode without a salt", () => {
    expect(() => redactPii(text, { mode: "hash" })).toThrow(PrivacyProbeError);
    try {
      redactPii(text, { mode: "hash" });
    } catch (e) {
      expect((e as PrivacyProbeError).code).toBe("NO_SALT");
    }
  });

  test.prop([fc.array(validResidentId, { minLength: 1, maxLength: 4 }), fc.constantFrom<"tag" | "mask" | "hash">("tag", "mask", "hash")])(
    "redacted text has no findings left and keeps the text around them",
    (ids, mode) => {
      const input = ids.map((id, i) => `第${i + 1}位：${id}`).join("；");
      const out = redactPii(input, { mode, salt: "k" });
      expect(out.matches).toHaveLength(ids.length);
      expect(scanPii(out.text)).toEqual([]);
      for (const id of ids) expect(out.text).not.toContain(id);
      expect(out.text.startsWith("第1位：")).toBe(true);
    },
  );
});
