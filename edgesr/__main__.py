"""``python -m edgesr`` (and ``torchrun -m edgesr train ...``)."""

from edgesr.cli.main import main

if __name__ == "__main__":
    main()
