"""The Lightning layer: :class:`~brain_ai.training.module.SNNLitModule`, the callbacks (probes,
rasters, health monitor, efficiency logger), the TensorBoard dashboards and plots, the LR schedules,
checkpoint I/O and the run history of resumed runs. Built on :mod:`brain_ai.core` and
:mod:`brain_ai.config`; knows nothing of Hydra."""
