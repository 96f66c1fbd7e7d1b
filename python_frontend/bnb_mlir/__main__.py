"""`python -m bnb_mlir`: see bnb_mlir.cli."""
import sys

from .cli import main

sys.exit(main())
