export { tempDir } from "./temp-dir.js";
export { loopbackServer, sendJson, type LoopbackServer, type Handler } from "./loopback-server.js";
export { repoRoot, samplePath, readSample, sharedDataDir } from "./samples.js";
export { trainerPython, startServe, buildTinyCheckpoints } from "./trainer-serve.js";
