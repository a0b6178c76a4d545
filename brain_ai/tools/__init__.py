"""Command-line diagnostics for brain_ai (contract validation, debug reports)."""
