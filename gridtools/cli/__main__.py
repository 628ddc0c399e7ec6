"""``python -m gridtools.cli ...``."""

from gridtools.cli import main

if __name__ == "__main__":
    main()
