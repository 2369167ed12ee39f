"""Times forward + backward + AdamW of the qkv gpt twin (nanoGPT layout) in PyTorch.

    OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 scripts/torch/bench_gpt.py --threads 1 --steps 30
Prints one line: 'torch threads=N tokens_per_s=X step_ms=Y'. Shape defaults: nanoGPT's CPU
"baby" config (4 layers, 4 heads, d_model 128, context 64, batch 12, vocabulary 65, GELU,
pre-norm, tied embeddings, dropout 0).
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qkv_models as Q  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--block", type=int, default=64)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    m = Q.build("gpt", vocab_size=65, block_size=a.block, n_layer=4, n_head=4, d_model=128, dropout=0.0,
                pos="learned", tie_weights=1, norm="pre", activation="gelu")
    m.train()
    opt = Q.adamw(m, lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    g = torch.Generator().manual_seed(1)
    data = torch.randint(0, 65, (a.warmup + a.steps, a.batch, a.block + 1), generator=g)

    def step(i):
        b = {"inp": data[i, :, :-1], "tgt": data[i, :, 1:]}
        opt.zero_grad(set_to_none=True)
        loss = m.loss(b)
        loss.backward()
        opt.step()
        return loss.item()

    for i in range(a.warmup):
        step(i)
    t0 = time.perf_counter()
    for i in range(a.steps):
        step(a.warmup + i)
    dt = time.perf_counter() - t0
    tokens = a.steps * a.batch * a.block
    print(f"torch threads={a.threads} tokens_per_s={tokens / dt:.0f} step_ms={1000 * dt / a.steps:.2f} "
          f"torch={torch.__version__} core={os.environ.get('OPENBLAS_CORETYPE', '')}")


if __name__ == "__main__":
    main()
