"""Typer command-line interface: thin commands that validate and call the library."""
