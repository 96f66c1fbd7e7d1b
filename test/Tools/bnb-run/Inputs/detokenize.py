"""Prints the text of prompt ids plus the ids bnb-run --generate wrote.

    detokenize.py TOKENIZER_JSON PROMPT_IDS GENERATED_FILE
"""
import sys

from tokenizers import Tokenizer

tok = Tokenizer.from_file(sys.argv[1])
ids = [int(t) for t in sys.argv[2].split(",")]
ids += [int(t) for t in open(sys.argv[3]).read().split()]
print(tok.decode(ids))
