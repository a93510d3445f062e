"""ninjarl.eval — held-out evaluation of trained agents."""
from .evaluate import EvalResult, evaluate

__all__ = ["EvalResult", "evaluate"]
