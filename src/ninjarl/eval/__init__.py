"""ninjarl.eval — evaluation of trained agents: which levels (:mod:`.levels`), playing them
(:mod:`.evaluate`), videos (:mod:`.video`) and comparison reports (:mod:`.report`).

Evaluation takes a policy object and levels; loading a run or checkpoint is training's job
(:func:`ninjarl.train.load_agent`), so this package never imports :mod:`ninjarl.train`.
"""
from .evaluate import EpisodeResult, EvalResult, evaluate, wilson_interval
from .levels import EvalLevel, resolve_spec, resolve_specs

__all__ = ["EpisodeResult", "EvalLevel", "EvalResult", "evaluate", "resolve_spec",
           "resolve_specs", "wilson_interval"]
