"""``python -m imagegen ...`` (what ``torchrun -m imagegen train ...`` runs on each process)."""

from imagegen.cli.main import main

main()
