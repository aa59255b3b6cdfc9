"""The training loop, its callback points, optimizers and schedules."""

from .callbacks import Callback, EarlyStopping, PrintProgress, RunState
from .history import History
from .loop import TrainConfig, evaluate, fit_loop
from .optim import OPTIMIZERS, SCHEDULES, make_optimizer, make_scheduler
from .step_profile import StepProfiler

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "Callback",
    "EarlyStopping",
    "History",
    "PrintProgress",
    "RunState",
    "StepProfiler",
    "TrainConfig",
    "evaluate",
    "fit_loop",
    "make_optimizer",
    "make_scheduler",
]
