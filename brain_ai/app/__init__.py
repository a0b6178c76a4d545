"""The entry points' glue: :mod:`~brain_ai.app.pipeline` (the bodies of ``train.py``,
``evaluate.py`` and ``export.py``), the command-line error handling (:mod:`~brain_ai.app.cli`),
run-folder locks (:mod:`~brain_ai.app.run_guard`), safe file writes, the allocator setting and the
sweep summary. The only layer that uses Hydra."""
