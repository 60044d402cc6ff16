"""TEST DOUBLE for Bagel's `modeling` package (see tests/bagel_stand_in/README.md)."""
