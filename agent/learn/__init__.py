"""Learning from reviews: evaluation, frozen eval sets and runs, guideline feedback, label maps."""
