"""Model and tokenizer loading and saving, shared by the training stages and the server."""

from __future__ import annotations

import torch


def unwrap(model):
    """The model inside a DDP wrapper (or the model itself)."""
    return model.module if hasattr(model, "module") else model


def set_dropout(config, p: float) -> None:
    for k, v in list(vars(config).items()):
        if "dropout" in k and isinstance(v, float):
            setattr(config, k, p)


def load_tokenizer(path: str):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def _build(auto, path: str, cfg, dtype, device, empty: bool):
    """`auto.from_pretrained`, or with `empty` the same architecture on the meta device (no memory; its
    weights arrive by broadcast, see sharding.shard_from_rank0), in from_pretrained's eval mode."""
    if empty:
        with torch.device("meta"):
            return auto.from_config(cfg, dtype=dtype).eval()
    m = auto.from_pretrained(path, config=cfg, dtype=dtype)
    return m.to(device) if device is not None else m


def load_causal(path: str, dropout: float | None = None, device=None, dtype=torch.float32, empty: bool = False):
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.from_pretrained(path)
    if dropout is not None:
        set_dropout(cfg, dropout)
    return _build(AutoModelForCausalLM, path, cfg, dtype, device, empty)


def load_reward(path: str, dropout: float | None = None, device=None, pad_id: int | None = None, empty: bool = False):
    """A one-logit sequence-classification head (the reward model) over the checkpoint's backbone."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    cfg = AutoConfig.from_pretrained(path)
    cfg.num_labels = 1
    if pad_id is not None and getattr(cfg, "pad_token_id", None) is None:
        cfg.pad_token_id = pad_id
    if dropout is not None:
        set_dropout(cfg, dropout)
    return _build(AutoModelForSequenceClassification, path, cfg, torch.float32, device, empty)


def is_reward_checkpoint(config) -> bool:
    """A checkpoint saved from a reward model (its architecture is a sequence-classification head)."""
    return any("SequenceClassification" in a for a in (config.architectures or []))


def save_pretrained(model, tok, folder: str, state_dict=None) -> None:
    """Weights (a gathered `state_dict` for a sharded model) and the tokenizer into `folder`, as HF files."""
    unwrap(model).save_pretrained(folder, **({} if state_dict is None else {"state_dict": state_dict}))
    tok.save_pretrained(folder)
