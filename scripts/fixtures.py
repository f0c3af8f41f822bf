"""Recomputes what Hugging Face transformers computes for the tiny GPT-2 of tests/fixtures/tiny.

The weights (model.safetensors, config.json) and the inputs recorded in expected.json (the batch,
the token stream, the greedy prompt) are the starting point. From them this script computes, with
GPT2LMHeadModel in float32 on the CPU:

- the logits of the batch and its mean cross-entropy loss;
- the gradient of that loss for every parameter (the tied embedding's includes the LM head's);
- ten AdamW steps (lr 3e-3 constant, betas 0.9/0.95, eps 1e-8, weight decay 0.1 on tensors of two
  or more dimensions, clipping the global gradient norm to 1), each on the next 64 tokens of the
  stream viewed as [4, 16]: the loss before each update and the norm before clipping;
- 20 greedy tokens after the prompt.

    python scripts/fixtures.py           compare with the committed expected.* and print the
                                         largest differences (exit 1 beyond float precision)
    python scripts/fixtures.py --write   write expected.json and expected.safetensors anew
"""

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import GPT2LMHeadModel

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "tiny"


def load_model():
    model = GPT2LMHeadModel.from_pretrained(FIXTURE, torch_dtype=torch.float32)
    model.eval()  # the config's dropout is 0 anyway
    return model


def loss_of(model, x, y):
    logits = model(torch.tensor(x)).logits
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), torch.tensor(y).reshape(-1))
    return logits, loss


def forward_backward(expected):
    model = load_model()
    logits, loss = loss_of(model, expected["batch"]["x"], expected["batch"]["y"])
    loss.backward()
    tensors = {"logits": logits.detach().contiguous()}
    for name, p in model.named_parameters():
        if name == "lm_head.weight":
            continue  # tied to transformer.wte.weight, whose gradient already holds both uses
        tensors[f"grad.{name}"] = p.grad.detach().contiguous()
    return loss.item(), tensors


def adamw_steps(expected):
    model = load_model()
    params = [p for n, p in model.named_parameters() if n != "lm_head.weight"]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    settings = expected["adamw"]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": settings["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=settings["lr"],
        betas=tuple(settings["betas"]),
        eps=settings["eps"],
    )
    tokens = expected["tokens"]
    steps = []
    for k in range(len(settings["steps"])):
        window = tokens[64 * k : 64 * k + 65]
        x = [window[i * 16 : i * 16 + 16] for i in range(4)]
        y = [window[i * 16 + 1 : i * 16 + 17] for i in range(4)]
        opt.zero_grad()
        _, loss = loss_of(model, x, y)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, settings["grad_clip_global_norm"])
        opt.step()
        steps.append({"loss": loss.item(), "grad_norm_before_clip": norm.item()})
    return steps


def greedy(expected):
    model = load_model()
    ids = list(expected["greedy"]["prompt"])
    n = len(expected["greedy"]["continuation"])
    with torch.no_grad():
        for _ in range(n):
            logits = model(torch.tensor([ids])).logits[0, -1]
            ids.append(int(torch.argmax(logits)))
    return ids[len(expected["greedy"]["prompt"]) :]


def main():
    write = "--write" in sys.argv[1:]
    expected = json.loads((FIXTURE / "expected.json").read_text())
    loss, tensors = forward_backward(expected)
    steps = adamw_steps(expected)
    continuation = greedy(expected)
    if write:
        expected["loss"] = loss
        for step, new in zip(expected["adamw"]["steps"], steps):
            step.update(new)
        expected["greedy"]["continuation"] = continuation
        expected["made_with"] = {"torch": torch.__version__, "transformers": __import__("transformers").__version__}
        (FIXTURE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
        save_file(tensors, FIXTURE / "expected.safetensors")
        print(f"wrote {FIXTURE}/expected.json and expected.safetensors")
        return 0
    committed = load_file(FIXTURE / "expected.safetensors")
    worst = {"loss": abs(loss - expected["loss"])}
    worst["logits (max abs)"] = (tensors["logits"] - committed["logits"]).abs().max().item()
    worst["gradients (max relative)"] = max(
        ((tensors[k] - committed[k]).norm() / committed[k].norm().clamp_min(1e-30)).item()
        for k in committed
        if k.startswith("grad.")
    )
    worst["AdamW losses (max abs)"] = max(abs(a["loss"] - b["loss"]) for a, b in zip(steps, expected["adamw"]["steps"]))
    worst["AdamW norms (max relative)"] = max(
        abs(a["grad_norm_before_clip"] - b["grad_norm_before_clip"]) / b["grad_norm_before_clip"]
        for a, b in zip(steps, expected["adamw"]["steps"])
    )
    print(f"torch {torch.__version__}, transformers {__import__('transformers').__version__}")
    for what, err in worst.items():
        print(f"{what:<28} {err:.2e}")
    same_greedy = continuation == expected["greedy"]["continuation"]
    print(f"{'greedy tokens':<28} {'the same' if same_greedy else 'DIFFERENT'}")
    ok = same_greedy and all(err <= 1e-5 for err in worst.values())
    print("the fixtures are reproduced to float precision" if ok else "the fixtures differ")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
