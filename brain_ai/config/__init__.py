"""The configuration layer: the schema of every option (:mod:`brain_ai.config.schema`, stdlib only,
re-exported here so that ``from brain_ai.config import SNNConfig`` works), the checks that run before
anything is built (:mod:`~brain_ai.config.validate`, :mod:`~brain_ai.config.compat`), the entry
points' settings (:mod:`~brain_ai.config.run_config`), the dotted-key tables
(:mod:`~brain_ai.config.keys`) and the registration into Hydra's ConfigStore
(:mod:`~brain_ai.config.hydra_store`). Importing this package loads the schema only.
"""

from brain_ai.config.schema import *  # noqa: F401,F403
