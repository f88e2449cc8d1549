"""call-risk: officer-safety risk assessment for police calls for service."""

__version__ = "0.1.0"
