"""Writes tests/ref/model_{gpt,transformer,vit}.h5: small qkv checkpoints made by the PyTorch
twins (scripts/torch/qkv_models.py) plus /ref with a batch, PyTorch's loss, every parameter's
gradient after one batch, and the losses of 10 AdamW steps on that batch.

    /usr/bin/python3 scripts/torch/make_model_refs.py tests/ref
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qkv_models as Q  # noqa: E402

CONFIGS = {
    # Small shapes that still exercise every option the test does not cover separately.
    "gpt": [
        ("gpt", dict(vocab_size=23, block_size=12, n_layer=2, n_head=2, d_model=16, d_ff=0, pos="learned",
                     tie_weights=1, norm="pre", activation="gelu")),
        ("gpt_post", dict(vocab_size=19, block_size=10, n_layer=2, n_head=4, d_model=16, d_ff=24,
                          pos="sinusoidal", tie_weights=0, norm="post", activation="relu", bias=0)),
    ],
    "transformer": [
        ("transformer", dict(src_vocab_size=17, tgt_vocab_size=19, d_model=16, n_head=2, n_encoder_layers=2,
                             n_decoder_layers=2, d_ff=32, dropout=0.0, max_len=32, norm="post",
                             activation="relu", pad_id=0)),
        ("transformer_pre_shared", dict(src_vocab_size=21, tgt_vocab_size=21, d_model=16, n_head=4,
                                        n_encoder_layers=1, n_decoder_layers=2, d_ff=24, dropout=0.0, max_len=32,
                                        norm="pre", activation="gelu", share_embeddings=1, tie_output=1,
                                        pad_id=1)),
    ],
    "vit": [
        ("vit", dict(patch_dim=12, n_patches=6, n_classes=5, d_model=16, n_head=2, n_layer=2, d_ff=32,
                     dropout=0.0, norm="pre", activation="gelu")),
        ("vit_mean", dict(patch_dim=12, n_patches=6, n_classes=5, d_model=16, n_head=2, n_layer=2, d_ff=32,
                          dropout=0.0, norm="pre", activation="gelu", pool="mean")),
    ],
}


def make_batch(arch, c, g):
    if arch == "gpt":
        B, T = 3, c["block_size"]
        ids = torch.randint(0, c["vocab_size"], (B, T + 1), generator=g)
        tgt = ids[:, 1:].clone()
        tgt[0, :2] = -1  # ignored targets
        return dict(inp=ids[:, :-1].contiguous(), tgt=tgt.contiguous())
    if arch == "transformer":
        B, S, T, pad = 3, 7, 6, c["pad_id"]
        lo = 2  # ids 0/1 reserved for pad/bos-ish
        src = torch.randint(lo, c["src_vocab_size"], (B, S), generator=g)
        src[1, 5:] = pad  # padded source rows
        src[2, 3:] = pad
        tgt = torch.randint(lo, c["tgt_vocab_size"], (B, T + 1), generator=g)
        tgt[2, 4:] = pad
        return dict(src=src, tgt_in=tgt[:, :-1].contiguous(), tgt_out=tgt[:, 1:].contiguous())
    B = 4
    return dict(patches=torch.randn(B, c["n_patches"], c["patch_dim"], generator=g),
                labels=torch.randint(0, c["n_classes"], (B,), generator=g))


def main(out_dir):
    torch.manual_seed(0)
    for arch, cases in CONFIGS.items():
        for name, hp in cases:
            torch.manual_seed(1234)
            model = Q.build(arch, **hp)
            with torch.no_grad():  # nonzero biases and norm gains, so their gradients are tested fully
                for n, p in model.named_parameters():
                    if p.dim() == 1:
                        p.add_(torch.randn(p.shape) * 0.1)
            model.train()  # dropout is 0; train mode avoids PyTorch's eval fast paths
            g = torch.Generator().manual_seed(99)
            batch = make_batch(arch, model.c, g)
            init_path = os.path.join(out_dir, f"model_{name}.h5")
            # gradients after one batch
            model.zero_grad()
            loss = model.loss(batch)
            loss.backward()
            grads = {}
            named = dict(model.named_parameters())
            for k in Q.qkv_state(model):
                grads[k] = named[k].grad.detach().numpy().copy()
            loss0 = loss.item()
            # qkv stores the initial parameters; the 10 AdamW steps start from them
            state0 = {k: v.clone() for k, v in model.state_dict().items()}
            opt_hp = dict(lr=3e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
            opt = Q.adamw(model, **opt_hp)
            losses = []
            for _ in range(10):
                opt.zero_grad()
                l = model.loss(batch)
                losses.append(l.item())
                l.backward()
                opt.step()
            final = Q.qkv_state(model)
            model.load_state_dict(state0)

            def extra(f):
                r = f.create_group("ref")
                for k, v in batch.items():
                    r.create_dataset("batch/" + k, data=v.numpy().astype(np.float32 if v.is_floating_point()
                                                                        else np.int32))
                r.create_dataset("loss", data=np.array([loss0], dtype=np.float64))
                for k, v in grads.items():
                    r.create_dataset("grads/" + k, data=v)
                r.create_dataset("adamw_losses", data=np.array(losses, dtype=np.float64))
                for k, v in final.items():
                    r.create_dataset("adamw_params/" + k, data=v)
                r.attrs["lr"] = opt_hp["lr"]
                r.attrs["beta1"], r.attrs["beta2"] = opt_hp["betas"]
                r.attrs["eps"] = opt_hp["eps"]
                r.attrs["weight_decay"] = opt_hp["weight_decay"]
                if arch == "transformer":
                    model.eval()
                    src = batch["src"]
                    out = model.greedy_decode(src, 5, bos=2, eos=3)
                    flat = [t for s in out for t in s]
                    off = np.cumsum([0] + [len(s) for s in out])
                    r.create_dataset("greedy/ids", data=np.array(flat, dtype=np.int32))
                    r.create_dataset("greedy/offsets", data=off.astype(np.int64))
                    model.train()

            Q.save_qkv(init_path, arch, model, extra)
            print(f"{init_path}: loss {loss0:.6f}, adamw 10 steps -> {losses[-1]:.6f}, "
                  f"{os.path.getsize(init_path)} bytes")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/ref")
