"""qkv checkpoints <-> PyTorch (twins in qkv_models.py).

    /usr/bin/python3 scripts/torch/qkv_torch.py to-torch model.h5 model.pt
        load a qkv checkpoint into its PyTorch twin; save (torch.save) a dict carrying the
        architecture with it: {"format": "qkv_torch", "format_version": 1, "arch": "gpt",
        "hyperparameters": {every hyperparameter, as in the checkpoint}, "model": state_dict}
        (rebuild: Q.build(d["arch"], **d["hyperparameters"]).load_state_dict(d["model"]))
    /usr/bin/python3 scripts/torch/qkv_torch.py from-torch model.pt -o model.h5
        the reverse: a to-torch file needs no flags (--set KEY=VALUE overrides a stored value)
    /usr/bin/python3 scripts/torch/qkv_torch.py from-torch state.pt --arch gpt --set n_layer=6 ... -o model.h5
    /usr/bin/python3 scripts/torch/qkv_torch.py from-torch state.pt --arch rnn --set cell=lstm ... -o model.h5
        a bare state_dict (older to-torch files, other code) needs the architecture and its
        hyperparameters on the command line; a nanoGPT checkpoint too (its 'model' entry,
        '_orig_mod.' prefixes and attn.bias mask buffers are handled)
    /usr/bin/python3 scripts/torch/qkv_torch.py check model.h5 [--qkv-model build/bin/qkv-model]
        run the checkpoint in PyTorch and in qkv (qkv-model forward) on the same random batch
        and print how far apart the logits and losses are (exit 1 when the relative error of the
        logits exceeds 1e-5)

Architectures: gpt, transformer, vit (qkv_models.py) and rnn (GRU or LSTM; qkv_models.Rnn on
rnn_seq2seq.py's RnnSeq2Seq).

Needs torch and h5py (/usr/bin/python3 on the qkv machines).
"""
import argparse
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qkv_models as Q  # noqa: E402

TOLERANCE = 1e-5  # relative error of the logits (float32 arithmetic on both sides, different summation orders)


def parse_value(v):
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


PT_FORMAT, PT_FORMAT_VERSION = "qkv_torch", 1  # what to-torch writes (module docstring)


def to_torch(a):
    arch, model = Q.load_qkv(a.checkpoint)
    torch.save({"format": PT_FORMAT, "format_version": PT_FORMAT_VERSION, "arch": arch,
                "hyperparameters": dict(model.c), "model": model.state_dict()}, a.output)
    print(f"{a.checkpoint}: {arch} -> {a.output} ({type(model).__name__} in scripts/torch/qkv_models.py, "
          f"hyperparameters {model.c})")


def from_torch(a):
    hp = {}
    for s in a.set or []:
        k, _, v = s.partition("=")
        if not _:
            raise SystemExit(f"--set {s!r}: expected KEY=VALUE")
        hp[k] = parse_value(v)
    state = torch.load(a.state_dict, map_location="cpu")
    arch = a.arch
    if isinstance(state, dict) and state.get("format") == PT_FORMAT:
        if state.get("format_version") != PT_FORMAT_VERSION:
            raise SystemExit(f"{a.state_dict}: {PT_FORMAT} format version {state.get('format_version')!r}, "
                             f"this script reads {PT_FORMAT_VERSION}")
        if arch and arch != state["arch"]:
            raise SystemExit(f"{a.state_dict}: holds a {state['arch']} model, not --arch {arch}")
        arch = state["arch"]
        hp = dict(state["hyperparameters"], **hp)  # --set overrides a stored value
        state = state["model"]
    elif not arch:
        raise SystemExit(f"{a.state_dict}: a bare state_dict (no architecture stored with it): "
                         f"pass --arch and its hyperparameters with --set")
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]  # nanoGPT's ckpt.pt
    model = Q.build(arch, **hp)
    state = {k[len("_orig_mod."):] if k.startswith("_orig_mod.") else k: v for k, v in state.items()}
    # nanoGPT without flash attention keeps its causal mask as a buffer named attn.bias (1, 1, T, T)
    state = {k: v for k, v in state.items() if not (k.endswith("attn.bias") and v.dim() == 4)}
    for t, src in Q.ties(model).items():
        if t not in state and src in state:
            state[t] = state[src]
    own = model.state_dict()
    wrong = [f"{k} {tuple(v.shape)} (expected {tuple(own[k].shape)})" for k, v in state.items()
             if k in own and v.shape != own[k].shape]
    if wrong:
        raise SystemExit(f"{a.state_dict}: does not fit {arch} with {hp}: shapes differ: {', '.join(wrong)}")
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise SystemExit(f"{a.state_dict}: does not fit {arch} with {hp}: missing {missing}, unexpected {unexpected}")
    for t in Q.tied_names(model):
        if not torch.equal(state[t], model.state_dict()[t]):
            raise SystemExit(f"{a.state_dict}: {t} differs from the weight it is tied to; set the tie "
                             f"hyperparameter to 0 for untied weights")
    Q.save_qkv(a.output, arch, model)
    print(f"{a.state_dict} -> {a.output}: {arch}, {sum(v.size for v in Q.qkv_state(model).values())} parameters")


def random_batch(arch, c, g):
    if arch == "gpt":
        T = min(c["block_size"], 16)
        ids = torch.randint(0, c["vocab_size"], (2, T + 1), generator=g)
        return {"inp": ids[:, :-1], "tgt": ids[:, 1:]}
    if arch == "transformer":
        S, T = min(9, c["max_len"]), min(7, c["max_len"])
        lo = 1 if c["pad_id"] == 0 else 0
        src = torch.randint(lo, c["src_vocab_size"], (2, S), generator=g)
        src[src == c["pad_id"]] = (c["pad_id"] + 1) % c["src_vocab_size"]
        src[1, S - 3:] = c["pad_id"]
        tgt = torch.randint(0, c["tgt_vocab_size"], (2, T + 1), generator=g)
        return {"src": src, "tgt_in": tgt[:, :-1], "tgt_out": tgt[:, 1:]}
    if arch == "rnn":
        # right padding only (what the encoder's packing expects), at least one real source token
        S, T = 9, 7
        src = torch.randint(0, c["src_vocab_size"], (3, S), generator=g)
        src[src == c["pad_id"]] = (c["pad_id"] + 1) % c["src_vocab_size"]
        src[1, S - 3:] = c["pad_id"]
        src[2, 1:] = c["pad_id"]
        tgt = torch.randint(0, c["tgt_vocab_size"], (3, T + 1), generator=g)
        return {"src": src, "tgt_in": tgt[:, :-1], "tgt_out": tgt[:, 1:]}
    if arch == "vit":
        return {"patches": torch.randn(2, c["n_patches"], c["patch_dim"], generator=g),
                "labels": torch.randint(0, c["n_classes"], (2,), generator=g)}
    raise SystemExit(f"check: no PyTorch twin for arch {arch!r}")


def check(a):
    arch, model = Q.load_qkv(a.checkpoint)
    # Evaluation mode, as qkv-model forward runs: every dropout off, nn.MultiheadAttention's own
    # attention dropout included (a float, not an nn.Dropout module: zeroing the modules' p in
    # train() mode left it on and made the check fail at random on any dropout > 0).
    model.eval()
    batch = random_batch(arch, model.c, torch.Generator().manual_seed(a.seed))
    with torch.no_grad():
        if arch == "gpt":
            want = model(batch["inp"])
        elif arch == "transformer":
            want = model(batch["src"], batch["tgt_in"])
        elif arch == "rnn":
            want = model(batch["src"], batch["tgt_in"])
        else:
            want = model(batch["patches"])
        loss = model.loss(batch).item()
    with tempfile.TemporaryDirectory() as d:
        bpath, opath = os.path.join(d, "batch.h5"), os.path.join(d, "out.h5")
        with h5py.File(bpath, "w") as f:
            f.attrs["qkv_format"] = "batch"
            f.attrs["qkv_format_version"] = np.int64(1)
            for k, v in batch.items():
                f.create_dataset(k, data=v.numpy().astype(np.float32 if v.is_floating_point() else np.int32))
        subprocess.run([a.qkv_model, "--no-provenance", "forward", a.checkpoint, bpath, "-o", opath], check=True)
        with h5py.File(opath, "r") as f:
            got = f["logits"][()]
            got_loss = float(f.attrs["loss"])
    want = want.numpy()
    rel = float(np.linalg.norm(got - want) / np.linalg.norm(want))
    print(f"{a.checkpoint}: {arch}: logits {tuple(want.shape)}, max |qkv - torch| {np.abs(got - want).max():.3g}, "
          f"relative error {rel:.3g}; loss qkv {got_loss:.6f} torch {loss:.6f}")
    loss_rel = abs(got_loss - loss) / max(abs(loss), 1e-30)
    if loss_rel > TOLERANCE:
        print(f"{a.checkpoint}: losses differ by {loss_rel:.3g} (relative)")
    return 0 if rel <= TOLERANCE and loss_rel <= TOLERANCE else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("to-torch")
    p.add_argument("checkpoint")
    p.add_argument("output")
    p = sub.add_parser("from-torch")
    p.add_argument("state_dict")
    p.add_argument("--arch", choices=sorted(Q.MODELS), help="architecture (needed for a bare state_dict)")
    p.add_argument("--set", action="append", help="hyperparameter KEY=VALUE (repeatable; overrides a stored value)")
    p.add_argument("-o", "--output", required=True)
    p = sub.add_parser("check")
    p.add_argument("checkpoint")
    here = os.path.dirname(os.path.abspath(__file__))
    p.add_argument("--qkv-model", default=os.path.join(here, "..", "..", "build", "bin", "qkv-model"))
    p.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.cmd == "to-torch":
        to_torch(a)
    elif a.cmd == "from-torch":
        from_torch(a)
    else:
        sys.exit(check(a))


if __name__ == "__main__":
    main()
