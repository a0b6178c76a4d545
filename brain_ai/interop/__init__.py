"""Interoperability with other SNN tools: :mod:`brain_ai.interop.nir` (NIR export and import)."""
