"""Greedy generation with the numpy reference of incremental decoding
(bnb_mlir.reference.ReferenceDecoder), independent of the compiled graph:
prints the new token ids, space separated, as bnb-run --generate does.
The prompt runs as whole chunks, then one decode call per token
(generation_schedule), whatever bnb-run does with the remainder.

    greedy_reference.py MODEL_DIR PROMPT_IDS MAX_NEW CHUNK MAX_SEQ [DTYPE]
"""
import sys

import numpy as np

from bnb_mlir.reference import ReferenceDecoder, generation_schedule


def main():
    model, prompt, max_new, chunk, max_seq = sys.argv[1:6]
    dtype = sys.argv[6] if len(sys.argv) > 6 else None
    ids = [int(t) for t in prompt.split(",")]
    max_new, chunk, max_seq = int(max_new), int(chunk), int(max_seq)
    out = []
    with ReferenceDecoder(model, max_seq, dtype) as dec:
        logits = None
        for _, p, n in generation_schedule(len(ids), len(ids), chunk):
            logits = dec.step(np.array([ids[p:p + n]], np.int64), p)
        pos = len(ids)
        while len(out) < max_new:
            token = int(np.argmax(logits.reshape(-1)))
            out.append(token)
            if len(out) == max_new:
                break
            logits = dec.step(np.array([[token]], np.int64), pos)
            pos += 1
    print(" ".join(str(t) for t in out))


if __name__ == "__main__":
    main()
