#!/usr/bin/python3
"""Every attention map of the PyTorch twins (scripts/torch/qkv_models.py) on the checkpoints and
batches of tests/ref/model_*.h5, for tests/nn_attention_refs_test.cpp (issue 15 item 1: the weights
qkv exports equal PyTorch's softmax weights).

    /usr/bin/python3 scripts/ref/make_attention_map_refs.py

Writes tests/ref/attention_maps.h5: /<case>/<layer> float32 (B, H, Tq, Tk), <layer> the twin's
module name, which is qkv's AttentionMap::name (gpt: transformer.h.L.attn; transformer:
transformer.encoder.layers.L.self_attn, transformer.decoder.layers.L.self_attn / .multihead_attn;
vit: encoder.layers.L.self_attn). nn.MultiheadAttention is asked for per-head weights
(need_weights=True, average_attn_weights=False) in train mode (dropout is 0 in these checkpoints;
train mode keeps PyTorch off its fused fast path). The rnn's additive attention has its
reference in tests/ref/rnn.h5 (scripts/ref/make_rnn_refs.py).
"""
import os
import sys

import h5py
import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "torch"))
import qkv_models as Q  # noqa: E402

REF = os.path.join(HERE, "..", "..", "tests", "ref")
CASES = ["gpt", "gpt_post", "transformer", "transformer_pre_shared", "vit", "vit_mean"]

captured = []
_mha_forward = nn.MultiheadAttention.forward


def mha_forward(self, *args, **kw):
    kw["need_weights"] = True
    kw["average_attn_weights"] = False
    out, w = _mha_forward(self, *args, **kw)
    captured.append((self, w.detach()))
    return out, w


nn.MultiheadAttention.forward = mha_forward


def main():
    with h5py.File(os.path.join(REF, "attention_maps.h5"), "w") as out:
        out.attrs["qkv_format"] = "test_reference"
        for case in CASES:
            arch, model = Q.load_qkv(os.path.join(REF, f"model_{case}.h5"))
            model.train()
            with h5py.File(os.path.join(REF, f"model_{case}.h5"), "r") as f:
                batch = {k: torch.from_numpy(f["ref/batch"][k][()]) for k in f["ref/batch"]}
            names = {m: n for n, m in model.named_modules()}
            captured.clear()
            with torch.no_grad():
                if arch == "gpt":
                    model(batch["inp"].long())
                    maps = [(n, m.last_att) for n, m in model.named_modules() if hasattr(m, "last_att")]
                elif arch == "transformer":
                    model(batch["src"].long(), batch["tgt_in"].long())
                    maps = [(names[m], w) for m, w in captured]
                else:
                    model(batch["patches"])
                    maps = [(names[m], w) for m, w in captured]
            g = out.create_group(case)
            for n, w in maps:
                g.create_dataset(n, data=w.numpy().astype(np.float32))
            print(f"{case}: {len(maps)} maps, " + ", ".join(f"{n} {tuple(w.shape)}" for n, w in maps))


if __name__ == "__main__":
    main()
