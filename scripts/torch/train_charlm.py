"""PyTorch 1.13 side of benchmark 50-train-charlm: trains the same gpt model
(scripts/torch/qkv_models.py twin) on the same tokens file with the same
recipe as the qkv-train command it is compared with, and prints one JSON line
(val loss, tokens/s over the training steps alone, and the median of the
tokens/s of 20-step windows, robust to another job's burst on a shared machine).

    /usr/bin/python3 scripts/torch/train_charlm.py TOKENS.h5 --threads 2 [--steps 2000]

Recipe (nanoGPT's shakespeare_char CPU config): the last 10% of tokens held
out; windows of 64 tokens, batch 12, 4 layers, 4 heads, d_model 128, dropout
0, GELU, pre-norm, learned positions, tied embeddings; AdamW lr 1e-3, betas
(0.9, 0.99), weight decay 0.1 on matrices, 100 warmup steps, cosine to 1e-4,
clip 1.0. The validation loss is over all non-overlapping val windows.
"""
import argparse
import json
import math
import os
import sys
import time

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qkv_models as Q  # noqa: E402


def lr_at(step, base, warmup, total, min_lr):
    # qkv's Schedule "cosine" (libcore/nn/optim.h)
    if warmup > 0 and step < warmup:
        return base * (step + 1) / warmup
    if step >= total:
        return min_lr
    p = (step - warmup) / max(1, total - warmup)
    return min_lr + 0.5 * (base - min_lr) * (1 + math.cos(math.pi * p))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tokens")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    with h5py.File(a.tokens, "r") as f:
        ids = torch.from_numpy(f["ids"][()].astype(np.int64))
        vocab = int(f.attrs["vocab_size"])
    cut = len(ids) - int(round(0.1 * len(ids)))
    train, val = ids[:cut], ids[cut:]
    T, B = 64, 12
    model = Q.build("gpt", vocab_size=vocab, block_size=T, n_layer=4, n_head=4, d_model=128, d_ff=0, dropout=0.0,
                    pos="learned", tie_weights=1, norm="pre", activation="gelu")
    opt = Q.adamw(model, lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    g = torch.Generator().manual_seed(a.seed)
    model.train()
    tokens, t_train = 0, 0.0
    window_rates, w_tokens, w_time = [], 0, 0.0  # tokens/s of each 20-step window, as qkv-train logs them
    for step in range(a.steps):
        ix = torch.randint(len(train) - T - 1, (B,), generator=g)
        x = torch.stack([train[i:i + T] for i in ix])
        y = torch.stack([train[i + 1:i + T + 1] for i in ix])
        t0 = time.perf_counter()
        for group in opt.param_groups:
            group["lr"] = lr_at(step, 1e-3, 100, a.steps, 1e-4)
        loss = model.loss(dict(inp=x, tgt=y))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        dt = time.perf_counter() - t0
        t_train += dt
        tokens += B * T
        w_tokens += B * T
        w_time += dt
        if (step + 1) % 20 == 0:
            window_rates.append(w_tokens / w_time)
            w_tokens, w_time = 0, 0.0
    model.eval()
    n = (len(val) - 1) // T
    tot, cnt = 0.0, 0
    with torch.no_grad():
        for s in range(0, n, B):
            w = torch.stack([val[i * T:i * T + T + 1] for i in range(s, min(n, s + B))])
            logits = model(w[:, :-1])
            tot += torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), w[:, 1:].reshape(-1),
                                                     reduction="sum").item()
            cnt += w[:, 1:].numel()
    print(json.dumps(dict(tool="pytorch", torch=torch.__version__, threads=a.threads, steps=a.steps,
                          val_loss=tot / cnt, tokens_per_s=tokens / t_train,
                          tokens_per_s_median=float(np.median(window_rates)) if window_rates else 0.0,
                          train_seconds=t_train)))


if __name__ == "__main__":
    main()
