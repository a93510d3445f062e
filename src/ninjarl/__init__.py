"""ninjarl: a fast N++ physics simulator and reinforcement-learning toolkit."""

__version__ = "0.1.0"
