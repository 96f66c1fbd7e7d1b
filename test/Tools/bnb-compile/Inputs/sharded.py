"""Writes a small float16 LLaMA checkpoint in two shards (OUT/ckpt), its
graph (OUT/model.mlir, bnb.weights naming the shard index) and an int8
config (OUT/config.json), for the sharded-weights tests; with a CASE, a copy
of OUT/ckpt in OUT/CASE broken in the way that case names."""
import json
import os
import pathlib
import shutil
import sys

ROOT = pathlib.Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / "python_frontend" / "tests"))

from bnb_mlir import BitsAndBytesConfig, import_checkpoint  # noqa: E402
from helpers import llama_checkpoint, shard_checkpoint  # noqa: E402


def main(out: pathlib.Path) -> None:
    """Writes the checkpoint, graph and config into `out`."""
    single = llama_checkpoint(out / "single")
    shard_checkpoint(single, out / "ckpt", shards=2)
    import_checkpoint(out / "ckpt", out / "model.mlir")
    BitsAndBytesConfig(load_in_8bit=True).to_json_file(out / "config.json")


SHARD1 = "model-00001-of-00002.safetensors"
SHARD2 = "model-00002-of-00002.safetensors"
INDEX = "model.safetensors.index.json"


def break_copy(out: pathlib.Path, case: str) -> None:
    """Copies out/ckpt to out/case and breaks the copy."""
    ckpt = out / case
    shutil.copytree(out / "ckpt", ckpt)
    index = json.loads((ckpt / INDEX).read_text())
    weight_map = index["weight_map"]
    first = next(n for n, s in weight_map.items() if s == SHARD2)
    if case == "notjson":
        (ckpt / INDEX).write_text('{"weight_map": {')
        return
    if case == "noweightmap":
        del index["weight_map"]
    elif case == "missing":
        (ckpt / SHARD2).unlink()
    elif case == "directory":
        (ckpt / SHARD2).unlink()
        (ckpt / SHARD2).mkdir()
    elif case == "fifo":
        (ckpt / SHARD2).unlink()
        os.mkfifo(ckpt / SHARD2)
    elif case == "dotdot":
        weight_map[first] = "../ckpt/" + SHARD2
    elif case == "absolute":
        weight_map[first] = str((out / "ckpt" / SHARD2).resolve())
    elif case == "lacks":
        weight_map["model.extra.weight"] = SHARD1
    elif case == "twice":
        shutil.copyfile(ckpt / SHARD1, ckpt / "copy.safetensors")
        weight_map["model.extra.weight"] = "copy.safetensors"
    elif case == "badshard":
        (ckpt / SHARD2).write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header}")
    else:
        raise SystemExit(f"unknown case {case}")
    (ckpt / INDEX).write_text(json.dumps(index, indent=2))


if __name__ == "__main__":
    if len(sys.argv) == 3:
        break_copy(pathlib.Path(sys.argv[1]), sys.argv[2])
    else:
        main(pathlib.Path(sys.argv[1]))
