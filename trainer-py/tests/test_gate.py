"""The embedding gate on padded batches: μ is the attention-mask-weighted mean, so each row of a padded batch
gets the μ, decision and hidden states it gets alone."""

import torch

from sfmed_trainer.gate import Gate


def _gate(entry: torch.Tensor, replacement: torch.Tensor, layer: int, threshold: float) -> Gate:
    d = entry.numel()
    return Gate.from_dict(
        {
            "version": 1,
            "layer": layer,
            "threshold": threshold,
            "dim": d,
            "entries": [entry.tolist()],
            "replacements": [replacement.tolist()],
        },
        d,
        2,
    )


def test_padded_batch_equals_each_example_alone(models_dir, tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(models_dir["sft"]).eval()
    texts = ["The patient has a fever and a cough since two days.", "Hello doctor", "头痛，发热三天"]
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    assert len({len(x) for x in ids}) == 3  # different lengths: the batch pads
    with torch.no_grad():
        h = model(torch.tensor([ids[0]]), output_hidden_states=True).hidden_states[1][0]
    mu0 = h.float().mean(0)
    # triggers on the first text only (its own mean pooling), so the batch mixes gated and ungated rows
    gate = _gate(mu0, torch.randn(mu0.numel(), generator=torch.Generator().manual_seed(0)), layer=1, threshold=0.999)
    handle = gate.attach(model)
    alone = []
    with torch.no_grad():
        for x in ids:
            gate.reset()
            logits = model(torch.tensor([x]), attention_mask=torch.ones(1, len(x), dtype=torch.long)).logits[0]
            alone.append((logits, gate.last["max_cosine"][0], gate.last["triggered"][0]))
    assert [a[2] for a in alone] == [True, False, False]
    width = max(len(x) for x in ids)
    pad = tokenizer.pad_token_id
    batch = torch.tensor([x + [pad] * (width - len(x)) for x in ids])
    mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids])
    gate.reset()
    with torch.no_grad():
        logits = model(input_ids=batch, attention_mask=mask).logits
    assert gate.last["triggered"] == [a[2] for a in alone]
    for i, x in enumerate(ids):
        assert abs(gate.last["max_cosine"][i] - alone[i][1]) < 1e-5, i
        assert torch.allclose(logits[i, : len(x)], alone[i][0], atol=1e-4), i
    handle.remove()
    gate.reset()
    with torch.no_grad():
        model(input_ids=batch, attention_mask=mask)
    assert gate.last == {}  # both hooks are off
    # the layer hook alone sees no mask and counts the padding: the padded rows' μ move (what the test guards)
    from sfmed_trainer.gate import layer_module

    h2 = layer_module(model, 1)[0].register_forward_hook(gate.hook)
    gate.reset()
    with torch.no_grad():
        model(input_ids=batch, attention_mask=mask)
    h2.remove()
    assert abs(gate.last["max_cosine"][0] - alone[0][1]) < 1e-5  # the longest row has no padding
    assert all(abs(gate.last["max_cosine"][i] - alone[i][1]) > 1e-4 for i in (1, 2))
