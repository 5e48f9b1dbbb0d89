"""Demo systems under test for chaoskit's experiments (not part of the chaoskit package)."""
