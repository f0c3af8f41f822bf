"""Times Hugging Face transformers' GPT2LMHeadModel on this CPU, for the comparisons the README
and chapter 8 make with `gpt2 bench`: training steps (float32, and bfloat16 autocast), AdamW
(plain and fused), generation with the KV cache, and a training run on tiny Shakespeare to a
validation loss.

    python scripts/pytorch_bench.py                        the `shakespeare` shape, B = 8, T = 128
    python scripts/pytorch_bench.py --preset gpt2 --batch 4 --seq 64
    python scripts/pytorch_bench.py --train-minutes 10     also train on tiny Shakespeare
    python scripts/pytorch_bench.py --default-run bf16 --seed 1   `gpt2 train`'s default run,
                                                       in f32 or bf16 autocast, as JSON lines
    python scripts/pytorch_bench.py --preset gpt2 --batch 4 --seq 64 --matmul
                                                       torch.matmul at a step's products, f32 and bf16

The token ids come from the project's own tokenizer (`gpt2 tokenize --file`), so no tokenizer
file is downloaded; build the command first (`cargo build --release`). Run it on a quiet
machine, beside `gpt2 bench` with the same shape, and report both with the machine's name.
"""

import argparse
import json
import math
import os
import subprocess
import time
from pathlib import Path

import torch
from transformers import GPT2Config, GPT2LMHeadModel

ROOT = Path(__file__).resolve().parent.parent
PRESETS = {
    "shakespeare": dict(n_layer=4, n_head=4, n_embd=128, n_positions=128),
    "gpt2": dict(n_layer=12, n_head=12, n_embd=768, n_positions=1024),
}


def model_for(preset, seed=1):
    config = GPT2Config(vocab_size=50257, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, **PRESETS[preset])
    torch.manual_seed(seed)
    return GPT2LMHeadModel(config)


def optimizer(model, lr, fused):
    params = [p for p in model.parameters()]
    decay = [p for p in params if p.dim() >= 2]
    rest = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), eps=1e-8, fused=fused)


def step(model, opt, x, bf16):
    opt.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = model(x, labels=x).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()


def time_steps(preset, b, t, bf16, fused, steps):
    model = model_for(preset)
    model.train()
    opt = optimizer(model, 1e-4, fused)
    x = torch.randint(0, 50257, (b, t))
    step(model, opt, x, bf16)  # warm-up: first touches of the optimizer's state
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step(model, opt, x, bf16)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def generation(preset, new_tokens):
    model = model_for(preset)
    model.eval()
    prompt = torch.randint(0, 50257, (1, 16))
    with torch.no_grad():
        model.generate(prompt, max_new_tokens=4, do_sample=False, pad_token_id=0)
        start = time.perf_counter()
        model.generate(prompt, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, pad_token_id=0)
        return new_tokens / (time.perf_counter() - start)


def shakespeare_ids():
    binary = ROOT / "target" / "release" / "gpt2"
    out = subprocess.run(
        [str(binary), "tokenize", "--file", str(ROOT / "data" / "tinyshakespeare.txt")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return torch.tensor([int(i) for i in out.split()])


def lr_at(k, lr, warmup, steps):
    """`gpt2 train`'s schedule: a linear warm-up to lr, then a cosine decay to lr / 10 at `steps`."""
    if k < warmup:
        return lr * (k + 1) / warmup
    progress = min(1.0, (k - warmup) / (steps - warmup))
    return 0.1 * lr + 0.5 * (1 + math.cos(math.pi * progress)) * 0.9 * lr


def train_step(model, opt, train, generator, b, t, rate, bf16=False):
    """One step on b random windows of t tokens of `train` at learning rate `rate`, the products
    under bf16 autocast if `bf16`; returns the loss."""
    for group in opt.param_groups:
        group["lr"] = rate
    starts = torch.randint(0, len(train) - t - 1, (b,), generator=generator)
    x = torch.stack([train[s : s + t] for s in starts])
    y = torch.stack([train[s + 1 : s + t + 1] for s in starts])
    opt.zero_grad(set_to_none=True)
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = model(x).logits
    loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, 50257), y.reshape(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()


def train_to_quality(minutes, b, t, lr):
    """Trains the `shakespeare` shape like `gpt2 train`: random windows of the first 90% of the
    text, warm-up then cosine decay, validation on the last 10% every 200 steps."""
    ids = shakespeare_ids()
    split = int(len(ids) * 0.9)
    train, val = ids[:split], ids[split:]
    model = model_for("shakespeare")
    opt = optimizer(model, lr, fused=True)
    generator = torch.Generator().manual_seed(1337)
    start = time.perf_counter()
    k = 0
    while time.perf_counter() - start < minutes * 60:
        train_step(model, opt, train, generator, b, t, lr_at(k, lr, 100, 1000))
        k += 1
        if k % 200 == 0:
            report(model, val, b, t, k, start)
    report(model, val, b, t, k, start)  # where the time ran out


def default_run(precision, seed, b=8, t=128, steps=1000, lr=3e-3, warmup=200, eval_every=100):
    """`gpt2 train`'s default run (the `shakespeare` shape, 1,000 steps of 8 random windows of 128
    tokens from the first 90% of the text, warm-up of 200 steps to 3e-3, cosine decay to 3e-4,
    AdamW with weight decay 0.1 on matrices, gradients clipped to norm 1), with the products in
    f32 or under bf16 autocast. Prints `gpt2 train --json`'s lines: each step's loss, and the
    validation loss on the last 10% every `eval_every` steps (steps counted from 0)."""
    ids = shakespeare_ids()
    split = int(len(ids) * 0.9)
    train, val = ids[:split], ids[split:]
    model = model_for("shakespeare", seed)
    opt = optimizer(model, lr, fused=True)
    generator = torch.Generator().manual_seed(seed)
    bf16 = precision == "bf16"
    start = time.perf_counter()
    for k in range(steps):
        loss = train_step(model, opt, train, generator, b, t, lr_at(k, lr, warmup, steps), bf16)
        print(json.dumps({"step": k, "loss": loss, "elapsed_s": time.perf_counter() - start}), flush=True)
        if (k + 1) % eval_every == 0 or k + 1 == steps:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                v = val_loss(model, val, b, t)
            print(json.dumps({"step": k, "val_loss": v, "elapsed_s": time.perf_counter() - start}), flush=True)


def val_loss(model, val, b, t):
    """The mean loss over the validation split in consecutive windows of t tokens."""
    model.eval()
    with torch.no_grad():
        windows = (len(val) - 1) // t
        xs = val[: windows * t].reshape(windows, t)
        ys = val[1 : windows * t + 1].reshape(windows, t)
        return sum(
            torch.nn.functional.cross_entropy(model(xs[i : i + b]).logits.float().reshape(-1, 50257), ys[i : i + b].reshape(-1)).item()
            * len(xs[i : i + b])
            for i in range(0, windows, b)
        ) / windows


def report(model, val, b, t, k, start):
    """Prints the loss on the whole validation split, in consecutive windows of t tokens."""
    elapsed = time.perf_counter() - start
    v = val_loss(model, val, b, t)
    print(f"  step {k:>5}  {elapsed / 60:5.1f} min  {b * t * k / elapsed:7.0f} tokens/s  validation loss {v:.3f}", flush=True)


def matmul_gflops(m, k, n, a_t, b_t, dtype, reps=10, cast=None):
    """GFLOP/s of torch.matmul for [m, k]·[k, n] in `dtype`, A (B) a transposed view where a_t
    (b_t), the median of `reps` runs. With `cast`, the operands are `dtype` and each run first
    casts both to `cast` (as autocast does an activation), the cast timed with the product."""
    a = torch.randn(k, m).to(dtype).t() if a_t else torch.randn(m, k).to(dtype)
    b = torch.randn(n, k).to(dtype).t() if b_t else torch.randn(k, n).to(dtype)

    def product():
        if cast is None:
            return torch.matmul(a, b)
        return torch.matmul(a.to(cast), b.to(cast))

    product()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        product()
        times.append(time.perf_counter() - start)
    times.sort()
    return 2 * m * k * n / times[len(times) // 2] / 1e9


def step_products(preset, rows):
    """The products of a training step, as (name, m, k, n, a_t, b_t) of [m, k]·[k, n], A (B)
    the transpose of a matrix stored by rows where a_t (b_t), as the step has them: the same
    list as `gpt2 bench --matmul` (src/bench.rs, step_products)."""
    c, v = PRESETS[preset]["n_embd"], 50257
    return [
        ("c_fc forward, x·W", rows, c, 4 * c, False, False),
        ("c_proj forward, x·W", rows, 4 * c, c, False, False),
        ("c_fc dx = dy·Wᵀ", rows, 4 * c, c, False, True),
        ("c_fc dW = xᵀ·dy", c, rows, 4 * c, True, False),
        ("LM head forward, x·wteᵀ", rows, c, v, False, True),
        ("LM head dx = dy·wte", rows, v, c, False, False),
        ("LM head dwteᵀ = xᵀ·dy", c, rows, v, True, False),
    ]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="shakespeare", choices=PRESETS)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--generate", type=int, default=64)
    p.add_argument("--train-minutes", type=float, default=0)
    p.add_argument("--matmul", action="store_true", help="time torch.matmul at GPT-2's shapes, then stop")
    p.add_argument("--default-run", choices=["f32", "bf16"], help="train `gpt2 train`'s default run, then stop")
    p.add_argument("--seed", type=int, default=1337, help="the default run's seed (weights and windows)")
    args = p.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    if args.default_run:
        default_run(args.default_run, args.seed)
        return
    if args.matmul:
        rows = args.batch * args.seq
        print(
            f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.preset} products at {rows} rows; "
            "torch.matmul, GFLOP/s: in f32; in bf16 from f32 operands (both cast each time); in bf16 from bf16 operands"
        )
        for name, m, k, n, a_t, b_t in step_products(args.preset, rows):
            f32 = matmul_gflops(m, k, n, a_t, b_t, torch.float32)
            cast = matmul_gflops(m, k, n, a_t, b_t, torch.float32, cast=torch.bfloat16)
            bf16 = matmul_gflops(m, k, n, a_t, b_t, torch.bfloat16)
            shape = f"[{m}, {k}]·[{k}, {n}]"
            print(f"{name:<26} {shape:<26} f32 {f32:6.0f}  bf16 from f32 {cast:6.0f}  from bf16 {bf16:6.0f}")
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.preset}, B = {args.batch}, T = {args.seq}")
    print(f"{'training step':<34} {'s/step':>8} {'tokens/s':>10}")
    for name, bf16, fused in [("f32, AdamW", False, False), ("f32, fused AdamW", False, True), ("bf16 autocast, fused AdamW", True, True)]:
        s = time_steps(args.preset, args.batch, args.seq, bf16, fused, args.steps)
        print(f"{name:<34} {s:>8.3f} {args.batch * args.seq / s:>10.0f}")
    print(f"{'generation, KV cache, batch 1':<34} {generation(args.preset, args.generate):>8.1f} tokens/s")
    if args.train_minutes > 0:
        print(f"training on tiny Shakespeare for {args.train_minutes} minutes (lr 1e-3):")
        train_to_quality(args.train_minutes, args.batch, args.seq, 1e-3)


if __name__ == "__main__":
    main()
