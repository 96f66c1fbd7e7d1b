"""bnb_mlir: the Python frontend of bnb-mlir.

- `BitsAndBytesConfig`: transformers' quantization config, without torch.
- `import_checkpoint`: a Hugging Face checkpoint directory -> MLIR model graph.
- `reference_forward`: the same forward pass in numpy (the unquantized baseline).
- `python -m bnb_mlir`: import / compile / config / reference / compare /
  generate.
"""
__version__ = "0.1.0"

from .config import BitsAndBytesConfig
from .errors import BnbMlirError
from .importer import import_checkpoint
from .reference import reference_forward

__all__ = ["BitsAndBytesConfig", "BnbMlirError", "import_checkpoint",
           "reference_forward", "__version__"]
