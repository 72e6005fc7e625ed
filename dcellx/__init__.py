"""dcellx: a faithful, fast experiment runner for the DCell visible neural network."""

__version__ = "0.1.0"
