"""Thin shim so ``python cli.py ...`` works from a checkout; the real CLI is ``gridtools.cli``."""
from gridtools.cli import main

if __name__ == "__main__":
    main()
