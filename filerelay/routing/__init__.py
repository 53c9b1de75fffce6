"""Rule matching: event -> matched routes (pure)."""

from filerelay.routing.match import Router, compile_when

__all__ = ["Router", "compile_when"]
