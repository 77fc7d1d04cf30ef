#!/usr/bin/env python3
"""Cut the small test samples in data/samples/ from the full fixtures in ../shared/data.

Deterministic: takes leading records (plus a few chosen on purpose, noted below) so a re-run
reproduces the committed files byte for byte. Attribution: data/samples/SOURCES.md.
"""
import csv, json, os, shutil, sys

SRC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
DST = os.path.join(os.path.dirname(__file__), "..", "data", "samples")


def out(rel):
    p = os.path.join(DST, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


def head_lines(rel, n, dst=None):
    with open(os.path.join(SRC, rel), "rb") as f, open(out(dst or rel), "wb") as g:
        for i, line in enumerate(f):
            if i >= n:
                break
            g.write(line)


def json_array(rel, n, pick=None):
    with open(os.path.join(SRC, rel), encoding="utf-8") as f:
        rows = json.load(f)
    sel = rows[:n] + ([r for r in rows[n:] if pick(r)] if pick else [])
    with open(out(rel), "w", encoding="utf-8") as g:
        json.dump(sel, g, ensure_ascii=False, indent=1)
        g.write("\n")


# toyhom: the first 300 CSV rows (with the header); the GB18030 block file's first 120 blocks, kept as GB18030 bytes.
head_lines("toyhom/样例_内科5000-6000.utf8.csv", 301)
with open(os.path.join(SRC, "toyhom/内科.txt"), "rb") as f:
    raw = f.read()
blocks = raw.split(b"\r\n\r\n\r\n") if b"\r\n\r\n\r\n" in raw else raw.split(b"\n\n\n")
sep = b"\r\n\r\n\r\n" if b"\r\n\r\n\r\n" in raw else b"\n\n\n"
with open(out("toyhom/内科.txt"), "wb") as g:
    g.write(sep.join(blocks[:120]) + sep)

# huatuo26m: first 300 items of the 6k test set.
json_array("huatuo26m_test/huatuo26M_test.json", 300)
# cmtmedqa: first 60 dialogues plus the first 12 safety items (they have "instruct" instead of "instruction").
with open(os.path.join(SRC, "cmtmedqa/CMtMedQA_test.json"), encoding="utf-8") as f:
    rows = json.load(f)
dialogs = [r for r in rows if "history" in r][:60]
safety = [r for r in rows if "history" not in r][:12]
with open(out("cmtmedqa/CMtMedQA_test.json"), "w", encoding="utf-8") as g:
    json.dump(dialogs + safety, g, ensure_ascii=False, indent=1)
    g.write("\n")
# cmb_clin: first 8 cases.
json_array("cmb_clin/CMB-test-qa.json", 8)

# cmexam: first 300 rows, plus every multi-answer row among the first 3000 so multi-answer parsing is covered.
with open(os.path.join(SRC, "cmexam/val.from_xlsx.csv"), encoding="utf-8", newline="") as f:
    rdr = list(csv.reader(f))
hdr, body = rdr[0], rdr[1:]
sel = body[:300] + [r for r in body[300:3000] if len(r) > 2 and len(r[2].strip()) > 1]
with open(out("cmexam/val.sample.csv"), "w", encoding="utf-8", newline="") as g:
    w = csv.writer(g, lineterminator="\n")
    w.writerow(hdr)
    w.writerows(sel)

# cmmlu / ceval: whole dev sets, first 20 test/val rows per subject.
for sub in ("cmmlu/dev", "ceval/dev"):
    for name in sorted(os.listdir(os.path.join(SRC, sub))):
        shutil.copyfile(os.path.join(SRC, sub, name), out(f"{sub}/{name}"))
for sub in ("cmmlu/test", "ceval/val"):
    for name in sorted(os.listdir(os.path.join(SRC, sub))):
        head_lines(f"{sub}/{name}", 21)

# medicalgpt: 100 reward pairs (whole file), 100 ShareGPT medical SFT lines, 40 general DPO lines, 100 BELLE lines, corpus.
shutil.copyfile(os.path.join(SRC, "medicalgpt/test.json"), out("medicalgpt/test.json"))
head_lines("medicalgpt/medical_sft_1K_format.jsonl", 100)
head_lines("medicalgpt/dpo_zh_500.jsonl", 40)
head_lines("medicalgpt/Belle_open_source_1k.json", 100)
shutil.copyfile(os.path.join(SRC, "medicalgpt/medical_corpus.txt"), out("medicalgpt/medical_corpus.txt"))
# huatuo_llama_med: the 200 open questions (seed instructions) and the 5 inference prompts.
shutil.copyfile(os.path.join(SRC, "huatuo_llama_med/question.json"), out("huatuo_llama_med/question.json"))
shutil.copyfile(os.path.join(SRC, "huatuo_llama_med/infer.json"), out("huatuo_llama_med/infer.json"))
# belle: 100 eval items with reference answers.
head_lines("belle/eval_set.json", 100)
# thuocl medical lexicon (MIT): whole file, the default medical-term lexicon.
shutil.copyfile(os.path.join(SRC, "thuocl/THUOCL_medical.txt"), out("thuocl/THUOCL_medical.txt"))
print("samples written to", os.path.normpath(DST))
