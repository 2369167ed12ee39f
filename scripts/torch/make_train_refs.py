"""Writes tests/ref/train_sgd_{gpt,transformer,vit,rnn}_{init,data,expected}.h5 for
tests/train_gradient_test.cpp: a small qkv checkpoint made by the PyTorch twin
(scripts/torch/qkv_models.py), a data file whose first unshuffled batch is what
qkv-train feeds the model, and the parameters after one plain SGD step with
lr 1 (initial minus the gradient of the mean loss over that batch).
The *_ls cases (train_sgd_{gpt,transformer,vit}_ls_expected.h5) are the same model and
data trained with label smoothing 0.1 given as a qkv-train flag (the init checkpoint
says 0): their attribute `inputs` names the case whose init and data files they use.

    /usr/bin/python3 scripts/torch/make_train_refs.py tests/ref
"""
import os
import sys
import tempfile

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qkv_models as Q  # noqa: E402

PAD, BOS, EOS = 0, 1, 2


def write_seqs(g, seqs, vocab):
    g["ids"] = np.concatenate([np.asarray(s, dtype=np.int32) for s in seqs])
    g["offsets"] = np.concatenate([[0], np.cumsum([len(s) for s in seqs])]).astype(np.int64)
    for k, v in dict(vocab_size=vocab, pad_id=PAD, bos_id=BOS, eos_id=EOS, unk_id=3).items():
        g.attrs[k] = np.int64(v)
    g.attrs["tokenizer_sha256"] = "0" * 64


def root_attrs(f, kind):
    f.attrs["qkv_format"] = kind
    f.attrs["qkv_format_version"] = np.int64(1)


def case_gpt(g, out):
    hp = dict(vocab_size=13, block_size=8, n_layer=2, n_head=2, d_model=16, d_ff=0, dropout=0.0, pos="learned",
              tie_weights=1, norm="pre", activation="gelu")
    model = Q.build("gpt", **hp)
    B, T = 4, 8
    stream = torch.randint(4, hp["vocab_size"], (B * T + 1,), generator=g)
    with h5py.File(out("data"), "w") as f:
        root_attrs(f, "tokens")
        write_seqs(f, [stream.numpy()], hp["vocab_size"])
    # qkv-train lm --no-shuffle: window i = stream[i*T : i*T + T + 1]
    w = torch.stack([stream[i * T: i * T + T + 1] for i in range(B)])
    batch = dict(inp=w[:, :-1].contiguous(), tgt=w[:, 1:].contiguous())
    return "gpt", model, batch, ["--context", str(T), "-b", str(B)]


def case_transformer(g, out):
    hp = dict(src_vocab_size=15, tgt_vocab_size=17, d_model=16, n_head=2, n_encoder_layers=1, n_decoder_layers=2,
              d_ff=32, dropout=0.0, max_len=16, norm="pre", activation="relu", pad_id=PAD)
    model = Q.build("transformer", **hp)
    batch, flags = pairs_batch(g, out, hp["src_vocab_size"], hp["tgt_vocab_size"])
    return "transformer", model, batch, flags


def pairs_batch(g, out, vs, vt):
    """A token_pairs file of 3 pairs and the batch qkv-train makes of it (tgt_in = bos y, tgt_out = y eos)."""
    src_lens, tgt_lens = [5, 3, 6], [4, 2, 5]
    srcs = [torch.randint(4, vs, (n,), generator=g).numpy() for n in src_lens]
    tgts = [torch.randint(4, vt, (n,), generator=g).numpy() for n in tgt_lens]
    with h5py.File(out("data"), "w") as f:
        root_attrs(f, "token_pairs")
        write_seqs(f.create_group("src"), srcs, vs)
        write_seqs(f.create_group("tgt"), tgts, vt)
    B, S, T = 3, max(src_lens), max(tgt_lens) + 1
    src = torch.full((B, S), PAD, dtype=torch.long)
    tin = torch.full((B, T), PAD, dtype=torch.long)
    tout = torch.full((B, T), PAD, dtype=torch.long)
    for i in range(B):
        src[i, :len(srcs[i])] = torch.from_numpy(srcs[i])
        y = torch.from_numpy(tgts[i])
        tin[i, 0] = BOS
        tin[i, 1:len(y) + 1] = y
        tout[i, :len(y)] = y
        tout[i, len(y)] = EOS
    return dict(src=src, tgt_in=tin, tgt_out=tout), ["-b", str(B)]


def case_rnn(g, out):
    hp = dict(src_vocab_size=15, tgt_vocab_size=17, pad_id=PAD, cell="lstm", n_layer=2, d_emb=8, d_hidden=12,
              d_attn=10, bidirectional=1, dropout=0.0, tie_weights=0, label_smoothing=0.0)
    model = Q.build("rnn", **hp)
    batch, flags = pairs_batch(g, out, hp["src_vocab_size"], hp["tgt_vocab_size"])
    return "rnn", model, batch, flags


def case_vit(g, out):
    hp = dict(patch_dim=12, n_patches=6, n_classes=5, d_model=16, n_head=2, n_layer=2, d_ff=32, dropout=0.0,
              norm="pre", activation="gelu")
    model = Q.build("vit", **hp)
    B = 4
    patches = torch.rand(B + 2, hp["n_patches"], hp["patch_dim"], generator=g)
    labels = torch.randint(0, hp["n_classes"], (B + 2,), generator=g)
    with h5py.File(out("data"), "w") as f:
        root_attrs(f, "patches")
        f["patches"] = patches.numpy().astype(np.float32)
        f["labels"] = labels.numpy().astype(np.int32)
        f.attrs["num_classes"] = np.int64(hp["n_classes"])
    return "vit", model, dict(patches=patches[:B], labels=labels[:B]), ["-b", str(B)]


SMOOTHING = 0.1


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    cases = (("gpt", case_gpt, 0.0), ("transformer", case_transformer, 0.0), ("vit", case_vit, 0.0),
             ("rnn", case_rnn, 0.0), ("gpt_ls", case_gpt, SMOOTHING), ("transformer_ls", case_transformer, SMOOTHING),
             ("vit_ls", case_vit, SMOOTHING))
    for name, make, smoothing in cases:
        inputs = name[:-3] if name.endswith("_ls") else name
        torch.manual_seed(4321)
        g = torch.Generator().manual_seed(77)
        scratch = tempfile.TemporaryDirectory()
        out = lambda part, name=name: os.path.join(  # noqa: E731
            out_dir if part == "expected" or inputs == name else scratch.name, f"train_sgd_{name}_{part}.h5")
        arch, model, batch, flags = make(g, out)
        with torch.no_grad():  # nonzero biases and gains, so every gradient is exercised
            for _, p in model.named_parameters():
                if p.dim() == 1:
                    p.add_(torch.randn(p.shape) * 0.1)
        Q.save_qkv(out("init"), arch, model)
        if inputs != name:  # same init and data as `inputs` (same seeds); only the smoothing differs
            for part in ("init", "data"):
                mine, theirs = out(part), os.path.join(out_dir, f"train_sgd_{inputs}_{part}.h5")
                if not h5_equal(mine, theirs):
                    raise SystemExit(f"{mine} differs from {theirs}")
        model.c["label_smoothing"] = smoothing
        if smoothing:
            flags = flags + ["--label-smoothing", str(smoothing)]
        model.train()
        model.zero_grad()
        loss = model.loss(batch)
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= p.grad  # SGD, lr 1, no momentum, no weight decay, no clipping
        with h5py.File(out("expected"), "w") as f:
            root_attrs(f, "reference")
            f.attrs["loss"] = np.float64(loss.item())
            f.attrs["flags"] = " ".join(flags)
            f.attrs["inputs"] = inputs
            f.attrs["label_smoothing"] = np.float64(smoothing)
            grp = f.create_group("params")
            for k, v in Q.qkv_state(model).items():
                grp.create_dataset(k, data=v.astype(np.float32))
        scratch.cleanup()
        print(f"{name}: loss {loss.item():.6f}, flags {' '.join(flags)}")


def h5_equal(a, b):
    """Same datasets with the same values (attributes aside)."""
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        names = []
        fa.visit(lambda n: names.append(n) if isinstance(fa[n], h5py.Dataset) else None)
        return all(n in fb and np.array_equal(fa[n][()], fb[n][()]) for n in names)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/ref")
