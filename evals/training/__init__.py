"""Training the `trained` simulator: a rule library, synthetic text, the head and its recipe."""
