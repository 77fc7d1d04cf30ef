"""Write tests/fixtures/parity.json: DPO losses and online-merge optimizer steps computed by sfmed_trainer's
own code in float64, for the TypeScript @sfmed/dpo-merge package to reproduce.

Usage: python scripts/make_parity_fixtures.py [OUT]   (default: trainer-py/tests/fixtures/parity.json)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sfmed_trainer.losses import dpo_loss  # noqa: E402
from sfmed_trainer.optim import merge_update_  # noqa: E402

HEADER = {
    "version": 1,
    "generator": "trainer-py/scripts/make_parity_fixtures.py",
    "dtype": "float64",
    "dpo": (
        "h = (policy_chosen - policy_rejected) - (reference_chosen - reference_rejected); "
        "sigmoid: -(1-ls)*logsigmoid(beta*h) - ls*logsigmoid(-beta*h); "
        "robust: (-(1-ls)*logsigmoid(beta*h) + ls*logsigmoid(-beta*h)) / (1-2*ls); "
        "hinge: relu(1 - beta*h); ipo: (h - 1/(2*beta))^2 (inputs are taken as given; the trainer feeds IPO "
        "length-averaged log-probs). loss = mean(losses); rewards_* = beta*(policy - reference); "
        "reward_accuracy = mean(rewards_chosen > rewards_rejected) (strict); reward_margin = mean(chosen - rejected)."
    ),
    "online_merge": (
        "One optimizer step for one tensor. `step` is this update's 1-based count (state had step-1); exp_avg and "
        "exp_avg_sq are the moments before the step. theta <- theta*(1 - lr*weight_decay); "
        "m <- b1*m + (1-b1)*g (computed as lerp); v <- b2*v + (1-b2)*g^2; "
        "delta = -(lr/(1-b1^step)) * m / (sqrt(v)/sqrt(1-b2^step) + eps). "
        "ondare: `mask` is the Bernoulli(p) keep draw; delta' = delta*mask/p; theta <- theta + alpha*tau + (1-alpha)*delta'. "
        "onties: `mask` is the TIES trim of delta (1 for the k=int(p*n) largest |delta|, ties to the lower index; p=1 keeps all); delta' = delta*mask (no rescale); "
        "with one task vector the sign election is s = sign(tau + delta') with sign 0 counted as +1 (unweighted sum, as "
        "the official code); tau' = tau where sign(tau) == s else 0; delta'' = delta' where sign(delta') == s else 0 "
        "(zeros drop out); theta <- theta + alpha*tau' + (1-alpha)*delta'' (plain weighted sum, no division by agreeing "
        "weights). `tau` is the stored task vector, already sparsified once at start (ondare: fixed DARE mask, x1/p, "
        "clamped to +-1; onties: magnitude top-k) - the fixture gives it post-processing. "
        'A case with "rescale": "l1" (ondare; the official rescale=True) replaces delta\' by '
        "clamp(delta*mask/p * L1(delta)/(L1(delta*mask/p) + eps), -clip_val, clip_val) when L1(delta) >= 1e-8."
    ),
}


def t(x):
    return torch.tensor(x, dtype=torch.float64)


def dpo_cases(g: torch.Generator) -> list[dict]:
    cases = []
    combos = [
        ("sigmoid", 0.1, 0.0),
        ("sigmoid", 0.5, 0.2),
        ("ipo", 0.1, 0.0),
        ("ipo", 0.5, 0.0),
        ("hinge", 0.1, 0.0),
        ("hinge", 1.0, 0.0),
        ("robust", 0.1, 0.1),
        ("robust", 0.3, 0.25),
    ]
    for loss_type, beta, ls in combos:
        n = 5
        pc = -torch.rand(n, generator=g, dtype=torch.float64) * 40 - 5
        pr = -torch.rand(n, generator=g, dtype=torch.float64) * 40 - 5
        rc = pc + torch.randn(n, generator=g, dtype=torch.float64) * 3
        rr = pr + torch.randn(n, generator=g, dtype=torch.float64) * 3
        o = dpo_loss(pc, pr, rc, rr, beta=beta, loss_type=loss_type, label_smoothing=ls)
        cases.append(
            {
                "loss_type": loss_type,
                "beta": beta,
                "label_smoothing": ls,
                "policy_chosen_logps": pc.tolist(),
                "policy_rejected_logps": pr.tolist(),
                "reference_chosen_logps": rc.tolist(),
                "reference_rejected_logps": rr.tolist(),
                "expected": {
                    "losses": o.losses.tolist(),
                    "loss": o.loss.item(),
                    "rewards_chosen": o.rewards_chosen.tolist(),
                    "rewards_rejected": o.rewards_rejected.tolist(),
                    "reward_accuracy": (o.rewards_chosen > o.rewards_rejected).double().mean().item(),
                    "reward_margin": (o.rewards_chosen - o.rewards_rejected).mean().item(),
                },
            }
        )
    return cases


def merge_cases(g: torch.Generator) -> list[dict]:
    cases = []
    combos = [
        dict(method="ondare", p=0.5, alpha=0.3, lr=1e-3, weight_decay=0.0, step=1, n=8),
        dict(method="ondare", p=1.0, alpha=0.0, lr=1e-3, weight_decay=0.0, step=1, n=6),
        dict(method="ondare", p=0.25, alpha=1e-3, lr=5e-4, weight_decay=0.01, step=7, n=10),
        dict(method="onties", p=0.5, alpha=0.3, lr=1e-3, weight_decay=0.0, step=1, n=8),
        dict(method="onties", p=0.3, alpha=0.01, lr=1e-2, weight_decay=0.1, step=4, n=10),
        dict(method="onties", p=1.0, alpha=0.5, lr=1e-2, weight_decay=0.0, step=2, n=6),
        dict(method="ondare", p=0.5, alpha=0.3, lr=1e-3, weight_decay=0.0, step=1, n=8, rescale="l1", clip_val=1.0),
        # a clip_val below the rescaled entries: the clamp decides most of them
        dict(
            method="ondare", p=0.25, alpha=1e-3, lr=5e-3, weight_decay=0.01, step=3, n=12, rescale="l1", clip_val=2e-3
        ),
    ]
    for c in combos:
        n, step = c.pop("n"), c["step"]
        theta = torch.randn(n, generator=g, dtype=torch.float64)
        grad = torch.randn(n, generator=g, dtype=torch.float64)
        if step == 1:
            m, v = torch.zeros(n, dtype=torch.float64), torch.zeros(n, dtype=torch.float64)
        else:
            m = torch.randn(n, generator=g, dtype=torch.float64) * 0.1
            v = torch.rand(n, generator=g, dtype=torch.float64) * 0.05
        tau = torch.randn(n, generator=g, dtype=torch.float64) * 1e-2
        if c["method"] == "onties":
            tau = tau * (torch.rand(n, generator=g, dtype=torch.float64) < 0.7)  # a pre-trimmed tau
        mask = None
        if c["method"] == "ondare":
            mask = (
                (torch.rand(n, generator=g, dtype=torch.float64) < c["p"]).double()
                if c["p"] < 1
                else torch.ones(n, dtype=torch.float64)
            )
        th, mm, vv = theta.clone(), m.clone(), v.clone()
        trace: dict = {}
        merge_update_(
            th,
            grad,
            mm,
            vv,
            step,
            lr=c["lr"],
            betas=(0.9, 0.999),
            eps=1e-8,
            weight_decay=c["weight_decay"],
            method=c["method"],
            p=c["p"],
            alpha=c["alpha"],
            tau=tau,
            mask=mask,
            trace=trace,
            rescale=c.get("rescale"),
            clip_val=c.get("clip_val", 1.0),
        )
        cases.append(
            {
                **c,
                "betas": [0.9, 0.999],
                "eps": 1e-8,
                # Adam arithmetic of torch.optim.AdamW (eps after bias correction, decay before the update); the official
                # online-merging code differs in the last bits (see the README's deviations).
                "adam_variant": "torch",
                "theta": theta.tolist(),
                "grad": grad.tolist(),
                "exp_avg": m.tolist(),
                "exp_avg_sq": v.tolist(),
                "tau": tau.tolist(),
                "mask": [int(x) for x in trace["mask"].tolist()],
                "expected_theta": th.tolist(),
                "expected_exp_avg": mm.tolist(),
                "expected_exp_avg_sq": vv.tolist(),
            }
        )
    return cases


def build() -> dict:
    g = torch.Generator().manual_seed(20240527)
    return {"header": HEADER, "dpo": dpo_cases(g), "online_merge": merge_cases(g)}


def main() -> None:
    out = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "parity.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(build(), indent=1) + "\n", encoding="utf-8")
    tmp.replace(out)
    print(out)


if __name__ == "__main__":
    main()
