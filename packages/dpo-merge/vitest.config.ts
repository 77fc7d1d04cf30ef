import { sfmedProject } from "../../vitest.shared";

export default sfmedProject("dpo-merge");
