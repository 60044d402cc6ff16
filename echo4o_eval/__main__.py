"""``python -m echo4o_eval`` runs the command line (same as ``echo4o-eval``)."""

from echo4o_eval.cli import main

if __name__ == "__main__":
    main()
