"""One-shot no_grad forward of a qkv checkpoint's PyTorch twin (qkv_models.py), beside
bench/forward_bench.cpp (scripts/bench/42-forward.sh): the first forward after loading, then the
same forward repeated; process start, imports and file reading excluded.

    OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 scripts/torch/bench_forward.py CKPT BATCH --threads 1
Prints the fields of forward_bench (wall and CPU ms, minor faults, medians of --repeat).
"""
import argparse
import os
import resource
import sys
import time

import h5py
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qkv_models as Q  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("batch")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    arch, m = Q.load_qkv(a.checkpoint)
    m.eval()
    with h5py.File(a.batch, "r") as f:
        b = {k: torch.from_numpy(f[k][()]) for k in f}
    b = {k: (v.long() if not v.is_floating_point() else v.float()) for k, v in b.items()}

    def forward():
        with torch.no_grad():
            if arch == "gpt":
                y = m(b["inp"])
                return F.cross_entropy(y.reshape(-1, y.size(-1)), b["tgt"].reshape(-1), ignore_index=-1)
            if arch == "vit":
                return F.cross_entropy(m(b["patches"]), b["labels"])
            y = m(b["src"], b["tgt_in"])
            return F.cross_entropy(y.reshape(-1, y.size(-1)), b["tgt_out"].reshape(-1), ignore_index=m.c["pad_id"])

    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0, c0 = time.perf_counter(), time.process_time()
    loss = forward().item()
    one_shot, one_shot_cpu = 1000 * (time.perf_counter() - t0), 1000 * (time.process_time() - c0)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    ts, cs = [], []
    for _ in range(a.repeat):
        t, c = time.perf_counter(), time.process_time()
        forward()
        ts.append(1000 * (time.perf_counter() - t))
        cs.append(1000 * (time.process_time() - c))
    med = lambda v: sorted(v)[len(v) // 2] if v else 0.0  # noqa: E731
    print(f"torch threads={a.threads} one_shot_ms={one_shot:.1f} one_shot_cpu_ms={one_shot_cpu:.1f} "
          f"one_shot_faults={faults} steady_ms={med(ts):.1f} steady_cpu_ms={med(cs):.1f} loss={loss:.6f} "
          f"[torch {torch.__version__}, OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '')}]")


if __name__ == "__main__":
    main()
