// Test fixtures around the real trainer: find its virtual environment, build tiny checkpoints, start `serve`.
// Tests that use them skip where the trainer environment is missing (`npm run trainer-env` builds it).
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { repoRoot } from "./samples.js";

/** The trainer venv's python, or undefined when the environment has not been built. */
export function trainerPython(): string | undefined {
  const trainer = path.join(repoRoot, "trainer-py");
  if (!existsSync(path.join(trainer, "sfmed_trainer", "serve.py"))) return undefined;
  const lock = path.join(trainer, "requirements.lock");
  if (!existsSync(lock)) return undefined;
  const hash = createHash("sha256").update(readFileSync(lock)).digest("hex").slice(0, 16);
  const venv = process.env.SFMED_TRAINER_VENV ?? path.join(homedir(), ".cache", "sfmed", `trainer-venv-${hash}`);
  const py = path.join(venv, "bin", "python");
  return existsSync(path.join(venv, `.sfmed-lock-${hash}`)) && existsSync(py) ? py : undefined;
}

/** Python that writes a tiny Qwen2 LM to OUT/lm (and, with a second argument, a reward model to OUT/rm). */
const TINY = `
import sys, torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM
out = sys.argv[1]
tok = Tokenizer(models.BPE()); tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False); tok.decoder = decoders.ByteLevel()
tok.train_from_iterator(["高血压患者应该低盐饮食。", "糖尿病需要控制血糖。", "头痛怎么办？"] * 20, trainer=trainers.BpeTrainer(vocab_size=300,
  special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
chatml = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\\\n' + message['content'] + '<|im_end|>' + '\\\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\\\n' }}{% endif %}"
t = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", additional_special_tokens=["<|im_start|>", "<|im_end|>"], chat_template=chatml)
torch.manual_seed(0)
m = Qwen2ForCausalLM(Qwen2Config(vocab_size=len(t), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
  num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=True, eos_token_id=t.eos_token_id, pad_token_id=t.pad_token_id))
m.save_pretrained(out + "/lm"); t.save_pretrained(out + "/lm")
if len(sys.argv) > 2:
    from transformers import AutoModelForSequenceClassification
    torch.manual_seed(0)
    r = AutoModelForSequenceClassification.from_pretrained(out + "/lm", num_labels=1)
    r.save_pretrained(out + "/rm"); t.save_pretrained(out + "/rm")
`;

function run(cmd: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    p.stderr.on("data", (d: Buffer) => (err += d.toString()));
    p.on("error", reject);
    p.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}: ${err.slice(-2000)}`))));
  });
}

/** Start `serve` on a checkpoint and wait for its ready event; the model id comes from /v1/models. */
export async function startServe(py: string, ckpt: string): Promise<{ proc: ChildProcess; baseURL: string; id: string }> {
  const proc = spawn(py, ["-m", "sfmed_trainer", "serve", ckpt, "--host", "127.0.0.1", "--port", "0"], {
    cwd: path.join(repoRoot, "trainer-py"),
    env: { ...process.env, PYTHONUNBUFFERED: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("serve not ready in 120 s")), 120_000);
    createInterface({ input: proc.stdout! }).on("line", (line) => {
      try {
        const e = JSON.parse(line) as { event?: string; url?: string };
        if (e.event === "ready" && e.url) {
          clearTimeout(t);
          resolve(e.url);
        }
      } catch {
        // not an event line
      }
    });
    proc.on("exit", (code) => reject(new Error(`serve exited ${code}`)));
  });
  const root = url.replace(/\/+$/, "");
  const baseURL = root.endsWith("/v1") ? root : `${root}/v1`;
  const models = (await (await fetch(`${baseURL}/models`)).json()) as { data: Array<{ id: string }> };
  return { proc, baseURL, id: models.data[0]!.id };
}


/** Write a tiny random LM checkpoint to `dir/lm` (and a reward model to `dir/rm` with `reward`). */
export function buildTinyCheckpoints(python: string, dir: string, opts: { reward?: boolean } = {}): Promise<void> {
  return run(python, ["-c", TINY, dir, ...(opts.reward ? ["with-reward"] : [])], dir);
}
