"""Judge prompt packs: official (paper parity, read at run time) and echo4o (ours)."""
