"""Export: labeled data with provenance, one writer per format."""
