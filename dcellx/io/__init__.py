"""The io layer, lowest of all: named data files (entries, cache, mirror, verified downloads)."""
