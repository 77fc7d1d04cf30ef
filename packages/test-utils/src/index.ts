export { tempDir } from "./temp-dir.js";
export { loopbackServer, sendJson, type LoopbackServer, type Handler } from "./loopback-server.js";
export { fakeOpenAI, type FakeOpenAI, type FakeOpenAIOptions } from "./fake-openai.js";
export { fakeHub, type FakeHub, type FakeHubOptions, type FakeRepoInit } from "./fake-hub.js";
export { repoRoot, samplePath, readSample, sharedDataDir } from "./samples.js";
export { trainerPython, startServe, buildTinyCheckpoints } from "./trainer-serve.js";
