#!/usr/bin/python3
"""Times the PyTorch twin of qkv's "rnn" model (scripts/torch/rnn_seq2seq.py) like bench/rnn_bench.cpp:
same sizes, same random batch shape, AdamW, float32, the given thread count. Prints the same lines.

    /usr/bin/python3 scripts/torch/rnn_bench_torch.py --threads 2 --batch 64 --len 12 --hidden 256 --cell gru
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rnn_seq2seq import RnnSeq2Seq  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--len", type=int, default=12)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--cell", default="gru")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    V, B, T = 48, a.batch, a.len
    torch.manual_seed(1)
    m = RnnSeq2Seq(src_vocab_size=V, tgt_vocab_size=V, cell=a.cell, n_layer=a.layers, d_emb=128,
                   d_hidden=a.hidden, dropout=0.1)
    print("torch %s, %d threads" % (torch.__version__, torch.get_num_threads()))
    src, tin, tout = (torch.randint(3, V, (B, T)) for _ in range(3))
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    tf = tb = to = 0.0
    for r in range(-2, a.reps):
        opt.zero_grad()
        t0 = time.perf_counter()
        loss = m.loss(src, tin, tout)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        if r >= 0:
            tf, tb, to = tf + t1 - t0, tb + t2 - t1, to + t3 - t2

    def line(what, t):
        print("%-22s %9.2f ms/batch %12.0f tgt tokens/s" % (what, 1e3 * t / a.reps, B * T * a.reps / t))

    line("forward", tf)
    line("backward", tb)
    line("adamw step", to)
    line("train step (total)", tf + tb + to)
    m.eval()
    td = 0.0
    for _ in range(a.reps):
        t0 = time.perf_counter()
        m.greedy_decode(src, T, 1, 2)
        td += time.perf_counter() - t0
    line("greedy decode", td)


if __name__ == "__main__":
    main()
