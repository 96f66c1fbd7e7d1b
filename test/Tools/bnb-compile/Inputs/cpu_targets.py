"""Prints the CPU level, features and soft-float f16 calls of artifacts."""
import json
import subprocess
import sys

SOFT = ("__extendhfsf2", "__truncsfhf2", "__gnu_h2f_ieee", "__gnu_f2h_ieee",
        "__truncsfbf2", "__extendbfsf2")


def host_features():
    flags = open("/proc/cpuinfo").read().split("flags")[1].split("\n")[0]
    return set(flags.split())


def soft_calls(so):
    # Linked from libgcc into model.so (local symbols) or left to the
    # dynamic linker: either way a call of the soft-float routine.
    out = subprocess.run(["nm", so], check=True, capture_output=True,
                         text=True).stdout
    out += subprocess.run(["nm", "-D", so], check=True, capture_output=True,
                          text=True).stdout
    found = [s for s in SOFT if s in out.split()]
    return ", ".join(found) if found else "none"


for path in sys.argv[1:]:
    m = json.load(open(path + "/manifest.json"))
    cpu, feats = m["cpu"], set(m["cpu"]["features"])
    tag = path.split(".")[0]
    if cpu["level"] == "native":
        # LLVM and /proc/cpuinfo spell a few features differently.
        linux = {"sse4.1": "sse4_1", "sse4.2": "sse4_2", "avx512vnni":
                 "avx512_vnni", "avx512bf16": "avx512_bf16", "avx512fp16":
                 "avx512_fp16", "avx512vbmi2": "avx512_vbmi2", "avx512bitalg":
                 "avx512_bitalg", "avx512vpopcntdq": "avx512_vpopcntdq",
                 "avxvnni": "avx_vnni", "amx-tile": "amx_tile", "amx-int8":
                 "amx_int8", "amx-bf16": "amx_bf16", "sse3": "pni",
                 "cx16": "cx16", "lzcnt": "abm", "bmi": "bmi1",
                 "avx512vbmi": "avx512vbmi"}
        host = host_features()
        ok = all(linux.get(f, f) in host for f in feats)
        print(f"{tag}: level native, target {m['target']}, cpu name "
              f"{cpu['name']}, features = host features: {ok}")
    elif cpu["level"] == "generic":
        print(f"{tag}: level generic, name {cpu['name']}, avx {'avx' in feats}")
    else:
        print(f"{tag}: level {cpu['level']}, name {cpu['name']}, " +
              ", ".join(f"{f} {f in feats}" for f in
                        ("avx2", "fma", "f16c", "avx512f")))
    print(f"{tag}: soft-float f16 calls: {soft_calls(path + '/model.so')}")
