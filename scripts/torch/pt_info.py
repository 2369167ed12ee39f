"""What a qkv_torch.py to-torch file (.pt) holds, read WITHOUT PyTorch (Python's standard library only):

    python3 scripts/torch/pt_info.py model.pt
prints one JSON line: {"format": "qkv_torch", "format_version": 1, "arch": ..., "hyperparameters": {...},
"parameters": [state_dict names]}; for a bare state_dict {"format": null, "parameters": [...]}.

torch.save writes a zip archive whose data.pkl is a pickle; the tensors in it are persistent ids
(their bytes live in other archive members) rebuilt by torch functions. Here those calls are
replaced by a placeholder, so the metadata (plain str / int / float / dict) reads as saved.
"""
import json
import pickle
import sys
import zipfile


class _Placeholder:
    def __init__(self, *a, **k):
        pass

    def __call__(self, *a, **k):
        return _Placeholder()

    def __setstate__(self, state):
        pass


class _Dict(dict):
    """collections.OrderedDict as a state_dict pickles it (with a _metadata attribute)."""

    def __setstate__(self, state):
        pass


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return _Dict
        if module.startswith("torch"):
            return _Placeholder()
        return super().find_class(module, name)

    def persistent_load(self, pid):
        return _Placeholder()


def read(path):
    with zipfile.ZipFile(path) as z:
        pkl = [n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if not pkl:
            raise SystemExit(f"{path}: not a torch.save zip archive (no data.pkl)")
        obj = _Unpickler(z.open(pkl[0])).load()
    if isinstance(obj, dict) and obj.get("format") == "qkv_torch":
        return {"format": obj["format"], "format_version": obj["format_version"], "arch": obj["arch"],
                "hyperparameters": obj["hyperparameters"], "parameters": sorted(obj["model"])}
    return {"format": None, "parameters": sorted(obj) if isinstance(obj, dict) else []}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    print(json.dumps(read(sys.argv[1]), sort_keys=True))
