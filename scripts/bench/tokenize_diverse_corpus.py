#!/usr/bin/python3
"""Writes a synthetic corpus with a large vocabulary for the tokenizer benchmark.

Repeated TinyShakespeare has ~15k distinct words, which flatters BPE learning:
here 400k made-up words (letter frequencies and Zipf word frequencies like
English) give ~350k distinct pre-tokens, so the merge phase is exercised too.
Deterministic (fixed seed).   usage: tokenize_diverse_corpus.py OUT MEGABYTES
"""
import sys

import numpy as np

out_path, megabytes = sys.argv[1], float(sys.argv[2])
rng = np.random.default_rng(1)
letters = np.array(list("etaoinshrdlucmfwypvbgkjqxz"))
p = 1 / np.arange(1, 27) ** 0.8
p /= p.sum()
n_vocab = 400_000
words = ["".join(rng.choice(letters, n, p=p)) for n in rng.integers(2, 12, n_vocab)]
z = 1 / np.arange(1, n_vocab + 1) ** 1.05
z /= z.sum()
target = int(megabytes * 1048576)
written = 0
with open(out_path, "w") as out:
    while written < target:
        idx = rng.choice(n_vocab, 120_000, p=z)
        lines = [" ".join(words[i] for i in idx[k:k + 12]) for k in range(0, len(idx), 12)]
        text = "\n".join(lines) + "\n"
        out.write(text)
        written += len(text)
