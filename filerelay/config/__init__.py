"""Pipeline YAML -> validated pydantic models, with located errors."""

from filerelay.config.loader import ActionCatalog, LoadedConfig, load_config, parse_config_text
from filerelay.config.models import PipelineConfigBase, RetryPolicy, Source, StepBase

__all__ = [
    "ActionCatalog",
    "LoadedConfig",
    "PipelineConfigBase",
    "RetryPolicy",
    "Source",
    "StepBase",
    "load_config",
    "parse_config_text",
]
