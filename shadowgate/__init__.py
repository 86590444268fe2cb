"""shadowgate: shadow and canary rollouts for ML model servers, decided by anytime-valid tests."""

__version__ = "0.1.0"
