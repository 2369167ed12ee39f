"""A PyTorch decoding loop with its own KV cache over the twin of a qkv gpt checkpoint: the
figures bench/decode_bench.cpp prints, timed the same way (scripts/bench/54-decode.sh).

    OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 scripts/torch/decode_bench_torch.py gpt.h5 --threads 1

The cache holds each layer's keys and values (B, H, T_max, hs); a step feeds one token per row at
position t and attends over keys [0, t]. Greedy takes the arg max; beam search keeps K rows,
scores (K, V) + beam scores, takes the top 2K of K x V and continues with the first K that are
not EOS (EOS is barred until the length, as in decode_bench), reordering the caches with
index_select. Under torch.inference_mode.
"""
import argparse
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qkv_models as Q  # noqa: E402


class Cached:
    """Incremental decoding of Q.GPT (pre- or post-norm, learned or sinusoidal positions)."""

    def __init__(self, m, B, T):
        self.m, self.c = m, m.c
        d, h = self.c["d_model"], self.c["n_head"]
        L = self.c["n_layer"]
        self.h, self.hs = h, d // h
        self.k = [torch.zeros(B, h, T, d // h) for _ in range(L)]
        self.v = [torch.zeros(B, h, T, d // h) for _ in range(L)]
        self.t = 0

    def step(self, ids):  # ids (B,) -> logits (B, V)
        m, c, t = self.m, self.c, self.t
        B = ids.shape[0]
        x = m.transformer.wte(ids)  # (B, C)
        x = x + (m.transformer.wpe.weight[t] if c["pos"] == "learned" else m.pe[t])
        for l, blk in enumerate(m.transformer.h):
            a = blk.ln_1(x) if blk.pre else x
            q, k, v = blk.attn.c_attn(a).split(c["d_model"], dim=1)
            q = q.view(B, self.h, 1, self.hs)
            self.k[l][:, :, t] = k.view(B, self.h, self.hs)
            self.v[l][:, :, t] = v.view(B, self.h, self.hs)
            K, V = self.k[l][:, :, :t + 1], self.v[l][:, :, :t + 1]  # (B, h, t+1, hs)
            att = F.softmax((q @ K.transpose(-2, -1)) * (1.0 / math.sqrt(self.hs)), dim=-1)
            y = blk.attn.c_proj((att @ V).reshape(B, c["d_model"]))
            if blk.pre:
                x = x + y
                x = x + blk.mlp(blk.ln_2(x))
            else:
                x = blk.ln_1(x + y)
                x = blk.ln_2(x + blk.mlp(x))
        if "ln_f" in m.transformer:
            x = m.transformer.ln_f(x)
        self.t += 1
        return m.lm_head(x)

    def reorder(self, rows):
        self.k = [k.index_select(0, rows) for k in self.k]
        self.v = [v.index_select(0, rows) for v in self.v]


def greedy(m, prompts, new, eos=2):
    st = Cached(m, len(prompts), 1 + new)
    ids = torch.tensor(prompts)
    out = []
    for g in range(new):
        lp = F.log_softmax(st.step(ids), dim=-1)
        lp[:, eos] = -math.inf
        ids = lp.argmax(dim=-1)
        out.append(ids)
    return torch.stack(out, 1)


def beam(m, prompt, new, K, eos=2):
    st = Cached(m, 1, 1 + new)
    ids = torch.tensor([prompt])
    scores = torch.zeros(1)
    tokens = torch.zeros(1, 0, dtype=torch.long)
    for g in range(new):
        lp = F.log_softmax(st.step(ids), dim=-1)  # (k, V)
        lp[:, eos] = -math.inf
        V = lp.shape[1]
        cand = (scores[:, None] + lp).view(-1)
        top_s, top_i = cand.topk(2 * K)
        keep = top_i[:K]  # EOS is barred: the first K are not EOS
        rows, ids = keep // V, keep % V
        scores = top_s[:K]
        tokens = torch.cat([tokens.index_select(0, rows), ids[:, None]], 1)
        st.reorder(rows)
    return tokens[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--new", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--beam", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    arch, m = Q.load_qkv(a.model)
    if arch != "gpt":
        raise SystemExit(f"{a.model}: a {arch} checkpoint; this loop decodes gpt")
    m.eval()
    V = m.c["vocab_size"]
    print(f"torch {torch.__version__} gpt: {a.model}, threads={a.threads}, "
          f"core={os.environ.get('OPENBLAS_CORETYPE', '')}")
    g = torch.Generator().manual_seed(1)
    with torch.inference_mode():
        for p in (16, 256):
            best = 1e9
            for _ in range(3):
                st = Cached(m, 1, p + 32)
                for _ in range(p):
                    st.step(torch.tensor([3]))
                ids = torch.randint(3, V, (32, 1), generator=g)
                t0 = time.perf_counter()
                for i in range(32):
                    st.step(ids[i])
                best = min(best, (time.perf_counter() - t0) / 32)
            print(f"step ms at position {p:<4d} {1e3 * best:9.3f}")
        t0 = time.perf_counter()
        ids = greedy(m, [3], a.new)[0]
        print(f"greedy b1 tokens/s {a.new / (time.perf_counter() - t0):12.1f}")
        print("greedy ids " + " ".join(str(int(i)) for i in ids[:24]))
        t0 = time.perf_counter()
        beam(m, 3, a.new, a.beam)
        print(f"beam{a.beam} tokens/s {a.new / (time.perf_counter() - t0):14.1f}")
        t0 = time.perf_counter()
        greedy(m, [3 + i % (V - 3) for i in range(a.batch)], a.new)
        print(f"greedy b{a.batch} tokens/s {a.batch * a.new / (time.perf_counter() - t0):11.1f}")


if __name__ == "__main__":
    main()
