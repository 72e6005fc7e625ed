"""The nn layer (4): DCell's configuration, layout, fast engine, reference loop and loss."""

from dcellx.nn.config import ModelConfig, make_config
from dcellx.nn.dcell import DCell
from dcellx.nn.reference import ReferenceDCell

__all__ = ["DCell", "ModelConfig", "ReferenceDCell", "make_config"]
