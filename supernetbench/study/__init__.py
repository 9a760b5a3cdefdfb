"""``supernetbench study``: methods x selectors x datasets x seeds at one profile, run as resumable,
content-addressed tasks (train, score, select, reliance) on a local process pool or on Ray."""
from .backends import BACKENDS, Backend
from .runner import StudyReport, run_study, status_table, study_status
from .spec import StudySpec
from .tasks import Plan, Task, plan

__all__ = ["BACKENDS", "Backend", "Plan", "StudyReport", "StudySpec", "Task", "plan", "run_study",
           "status_table", "study_status"]
