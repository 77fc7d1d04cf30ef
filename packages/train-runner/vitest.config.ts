import { sfmedProject } from "../../vitest.shared";

export default sfmedProject("train-runner");
