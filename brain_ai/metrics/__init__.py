"""Measurements of a trained network beside the core (torch only): :mod:`brain_ai.metrics.efficiency`."""
