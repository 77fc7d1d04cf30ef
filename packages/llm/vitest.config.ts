import { sfmedProject } from "../../vitest.shared";

export default sfmedProject("llm");
