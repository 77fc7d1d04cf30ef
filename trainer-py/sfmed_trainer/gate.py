"""Embedding gate: a forward hook on the output of decoder layer L that swaps a high-risk sequence's hidden
states for a secure embedding.

File (JSON): {"version": 1, "layer": L, "threshold": t, "dim": D, "entries": [[D floats]...],
"replacements": [[D floats]...]} with as many replacements as entries.

Semantics (shared with the privacy-probe package):
- Layer L counts decoder layers from 1 (L = 1 is the first layer's output, L = num_layers the last layer's
  output before the final norm); L = 0 is the token-embedding output. `/v1/embeddings` uses the same numbers.
- For the sequence being processed, μ = mean over every position so far of the *unmodified* layer-L hidden
  state. During cached generation the positions of earlier forward calls stay in the running mean, so for a
  single forward (a prompt, an embedding or score request) μ is exactly `/v1/embeddings` with that layer and
  pooling "mean" on the same tokens.
- c_i = cos(μ, entries[i]). If max_i c_i > threshold (strict) for i* = argmax, every position of the current
  forward is shifted: h_t ← h_t − μ + replacements[i*], so the mean of the shifted states is replacements[i*].
  The decision is re-made on every forward call with the updated μ.
- Batches are handled row by row; padding positions (attention mask 0, left or right padding) are not
  counted: μ is the attention-mask-weighted mean, so a padded batch gives each row the μ and the decision
  of that row run alone. The mask is the `attention_mask` the model was called with (caught by a
  pre-hook that `attach` adds to the model); its last T columns cover the current forward's T positions.
  Without one every position counts (the server runs one sequence at a time, so it never pads).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import torch


class GateError(ValueError):
    pass


def decoder_layers(model):
    base = getattr(model, getattr(model, "base_model_prefix", "model"), None) or model.model
    return base, base.layers


def layer_module(model, layer: int):
    base, layers = decoder_layers(model)
    n = len(layers)
    if layer < 0:
        layer = n + 1 + layer
    if not 0 <= layer <= n:
        raise GateError(f"layer must be in 0..{n} (or negative from the end), got {layer}")
    return (base.embed_tokens if layer == 0 else layers[layer - 1]), layer


@dataclass
class Gate:
    layer: int
    threshold: float
    entries: torch.Tensor  # [K, D]
    replacements: torch.Tensor  # [K, D]
    sum: torch.Tensor | None = None
    count: torch.Tensor | None = None  # [B] positions counted so far per row
    last: dict = field(default_factory=dict)
    mask: torch.Tensor | None = None  # [B, past + T] attention mask of the current model call

    @classmethod
    def load(cls, path: str, hidden_size: int, num_layers: int) -> "Gate":
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise GateError(f"{path}: {e}") from e
        return cls.from_dict(doc, hidden_size, num_layers, path)

    @classmethod
    def from_dict(cls, doc: dict, hidden_size: int, num_layers: int, where: str = "gate") -> "Gate":
        def fail(key, msg):
            raise GateError(f"{where}: {key}: {msg}")

        if doc.get("version") != 1:
            fail("version", "must be 1")
        layer = doc.get("layer")
        if not isinstance(layer, int) or not 0 <= layer <= num_layers:
            fail("layer", f"must be an integer in 0..{num_layers}")
        thr = doc.get("threshold")
        if not isinstance(thr, (int, float)) or not -1 <= thr <= 1:
            fail("threshold", "must be a number in [-1, 1]")
        dim = doc.get("dim")
        if dim != hidden_size:
            fail("dim", f"must equal the model's hidden size {hidden_size}")
        ent, rep = doc.get("entries"), doc.get("replacements")
        if not isinstance(ent, list) or not isinstance(rep, list) or len(ent) != len(rep) or not ent:
            fail("entries", "entries and replacements must be non-empty arrays of equal length")
        for key, rows in (("entries", ent), ("replacements", rep)):
            for i, r in enumerate(rows):
                if not isinstance(r, list) or len(r) != dim or not all(isinstance(x, (int, float)) for x in r):
                    fail(f"{key}[{i}]", f"must be an array of {dim} numbers")
        return cls(layer, float(thr), torch.tensor(ent, dtype=torch.float32), torch.tensor(rep, dtype=torch.float32))

    def reset(self) -> None:
        self.sum, self.count, self.last, self.mask = None, None, {}, None

    def capture_mask(self, module, args, kwargs):
        """Forward pre-hook on the model: keep the call's attention mask for the layer hook."""
        m = kwargs.get("attention_mask")
        if m is None and len(args) > 1 and torch.is_tensor(args[1]):
            m = args[1]
        self.mask = m if torch.is_tensor(m) and m.dim() == 2 else None
        return None

    def hook(self, module, inputs, output):
        h = output[0] if isinstance(output, tuple) else output  # [B, T, D]
        hf = h.float()
        B, T = h.shape[0], h.shape[1]
        m = self.mask
        if m is not None and m.shape[0] == B and m.shape[1] >= T:
            w = m[:, -T:].to(device=h.device, dtype=hf.dtype)  # [B, T], 0 at padding
            s = (hf * w[:, :, None]).sum(1)
            c = w.sum(1)
        else:
            s = hf.sum(1)
            c = torch.full((B,), float(T), device=h.device, dtype=hf.dtype)
        fresh = self.sum is None or self.sum.shape != s.shape
        self.sum = s if fresh else self.sum + s
        self.count = c if fresh else self.count + c
        mu = self.sum / self.count.clamp(min=1)[:, None]  # [B, D]
        e = self.entries.to(h.device)
        cos = torch.nn.functional.cosine_similarity(mu[:, None, :], e[None, :, :], dim=-1)  # [B, K]
        best, idx = cos.max(-1)
        hit = best > self.threshold
        self.last = {"max_cosine": best.tolist(), "entry": idx.tolist(), "triggered": hit.tolist()}
        if not bool(hit.any()):
            return None
        shift = self.replacements.to(h.device)[idx] - mu  # [B, D]
        shift = shift * hit[:, None].to(shift.dtype)
        new = (hf + shift[:, None, :]).to(h.dtype)
        return (new, *output[1:]) if isinstance(output, tuple) else new

    def attach(self, model):
        """Register the layer hook and the model pre-hook that reads the attention mask; `remove()` on the
        returned handle takes both off."""
        mod, _ = layer_module(model, self.layer)
        return _Handles(
            model.register_forward_pre_hook(self.capture_mask, with_kwargs=True), mod.register_forward_hook(self.hook)
        )


class _Handles:
    def __init__(self, *handles):
        self.handles = handles

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
