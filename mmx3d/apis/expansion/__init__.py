# Copyright (c) mmx3d contributors. All rights reserved.
"""X3D's stepwise expansion (the paper's method) as a tool: the state of a
candidate, the six axis operators and the coordinate search.

See ``docs/expansion.md`` and ``tools/expand.py``.
"""
from .launch import LAUNCHERS, Launcher, TrainJob, read_metric
from .operators import AXES, AXIS_NAMES, Expander, expand, parse_axes
from .plot import plot_trajectory
from .search import (
    SELECT_RULES,
    Candidate,
    Regularisation,
    SearchResult,
    run_search,
    select_best,
)
from .state import (
    ExpansionState,
    TrainSettings,
    config_text,
    render_config,
)

__all__ = [
    'AXES', 'AXIS_NAMES', 'Expander', 'expand', 'parse_axes',
    'ExpansionState', 'TrainSettings', 'config_text', 'render_config',
    'LAUNCHERS', 'Launcher', 'TrainJob', 'read_metric', 'plot_trajectory',
    'SELECT_RULES', 'Candidate', 'Regularisation', 'SearchResult',
    'run_search', 'select_best'
]
