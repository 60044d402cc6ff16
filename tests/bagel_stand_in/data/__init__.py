"""TEST DOUBLE for Bagel's `data` package (see tests/bagel_stand_in/README.md)."""
