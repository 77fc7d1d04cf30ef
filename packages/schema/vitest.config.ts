import { sfmedProject } from "../../vitest.shared.ts";

export default sfmedProject("schema");
