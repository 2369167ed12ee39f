#!/usr/bin/python3
"""Writes tests/data/h5py_sample.h5: a small file made by h5py, not by qkv,
that the tests read (float64, int16, vlen and fixed strings, a compressed
chunked dataset, attributes of several types, a bool attribute qkv does not
interpret). Run with Debian's python3 (python3-h5py, python3-numpy)."""
import sys
import h5py
import numpy as np

out = sys.argv[1] if len(sys.argv) > 1 else "tests/data/h5py_sample.h5"
with h5py.File(out, "w", track_order=False) as f:
    f.attrs["title"] = "made by h5py"
    f.attrs["flag"] = True
    f["float64_matrix"] = np.arange(12, dtype=np.float64).reshape(3, 4) / 8
    f["int16_vector"] = np.array([1, 2, -300], dtype=np.int16)
    f["strings"] = ["alpha", "βeta", ""]
    f["fixed_strings"] = np.array([b"ab", b"c"], dtype="S2")
    f["with_nan"] = np.array([1.0, np.nan, np.inf, -2.0], dtype=np.float32)
    g = f.create_group("group")
    g.attrs["answer"] = 42
    g.create_dataset("compressed", data=np.arange(1000, dtype=np.float32), chunks=(100,), compression="gzip")
print("wrote", out)
