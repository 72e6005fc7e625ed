"""The io layer (0, lowest): named data files (entries, cache, mirror, verified downloads)."""
