"""DCell models: configuration, layout, the fast engine, the reference loop and the loss."""

from dcellx.nn.config import ModelConfig, make_config
from dcellx.nn.dcell import DCell
from dcellx.nn.reference import ReferenceDCell

__all__ = ["DCell", "ModelConfig", "ReferenceDCell", "make_config"]
