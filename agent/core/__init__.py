"""Domain types, errors, guidelines, configuration and the one rule for which label stands."""
