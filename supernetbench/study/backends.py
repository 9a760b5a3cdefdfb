"""Where a study's tasks run, registered by name in :data:`BACKENDS`.

* ``local``: a process pool on this machine, one slot per CPU core (or per GPU: one device per
  task). A worker that dies breaks the pool; its in-flight tasks are run again in a fresh pool (up
  to ``spec.retries`` times) and resume from their last atomic checkpoint.
* ``ray``: one Ray task per study task with ``num_cpus=1`` (``num_gpus=1`` on GPUs), on an existing
  cluster (``address="auto"``) or a local instance; Ray reruns a task whose worker died
  (``max_retries``). Ray is imported only here, and only when this backend is used.

Both run :func:`supernetbench.study.tasks.execute`, which turns an exception into a failure result,
so one failed task never stops the others.
"""
from __future__ import annotations

import abc
import concurrent.futures as cf
import contextlib
import dataclasses
import multiprocessing as mp
import os
from typing import Any, ClassVar

from ..harness.lifecycle import watch_parent
from ..harness.registry import Registry
from .spec import StudySpec
from .tasks import Task, execute

#: name -> backend class
BACKENDS: Registry[type["Backend"]] = Registry("study backend")


class Backend(abc.ABC):
    """Runs tasks, ``slots`` at a time; :meth:`poll` returns those that finished."""

    name: ClassVar[str]

    def __init__(self, spec: StudySpec, session: str) -> None:
        self.spec, self.session = spec, session

    @property
    @abc.abstractmethod
    def slots(self) -> int: ...

    @abc.abstractmethod
    def submit(self, task: Task) -> None: ...

    @abc.abstractmethod
    def poll(self, timeout: float) -> list[tuple[Task, dict[str, Any]]]:
        """Tasks finished since the last call (waiting up to ``timeout`` s for one), with results."""

    def close(self, abort: bool = False) -> None:
        """Release workers (the default has none); ``abort``: without waiting for running tasks."""


def _devices(spec: StudySpec) -> list[str]:
    import torch

    from ..harness.device import resolve_device

    dev = resolve_device(spec.device)
    if dev.type == "cuda":
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())] if dev.index is None else [str(dev)]
    return ["cpu"]


@BACKENDS.register("local")
class LocalBackend(Backend):
    def __init__(self, spec: StudySpec, session: str) -> None:
        super().__init__(spec, session)
        devices = _devices(spec)
        cores = os.cpu_count() or 1
        n = spec.workers or (len(devices) if devices[0] != "cpu" else cores)
        self.free = [devices[i % len(devices)] for i in range(n)]  # one device per running task
        self.threads = max(1, cores // n) if devices[0] == "cpu" else None
        self.attempts: dict[str, int] = {}
        self.running: dict[cf.Future, tuple[Task, str]] = {}
        self.pool = self._new_pool()

    def _new_pool(self, n: int | None = None) -> cf.ProcessPoolExecutor:
        """Workers that exit when this process dies (:func:`~supernetbench.harness.lifecycle.watch_parent`)."""
        return cf.ProcessPoolExecutor(n or len(self.free) + len(self.running), mp_context=mp.get_context("spawn"),
                                      initializer=watch_parent, initargs=(os.getpid(),))

    @property
    def slots(self) -> int:
        return len(self.free) + len(self.running)

    def has_free_slot(self) -> bool:
        return bool(self.free)

    def submit(self, task: Task, device: str | None = None) -> None:
        device = device or self.free.pop()
        self.attempts[task.id] = self.attempts.get(task.id, 0) + 1
        fut = self.pool.submit(execute, self.spec, task, device, self.threads, self.session)
        self.running[fut] = (task, device)

    def poll(self, timeout: float) -> list[tuple[Task, dict[str, Any]]]:
        done, _ = cf.wait(list(self.running), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        out, broken = [], []
        for fut in done:
            task, device = self.running.pop(fut)
            try:
                out.append((task, fut.result()))
                self.free.append(device)
            except cf.process.BrokenProcessPool:
                broken.append((task, device))
        if broken:  # a worker died: every task in flight is lost with the pool; run them again
            broken += [self.running.pop(f) for f in list(self.running)]
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._new_pool(self.slots + len(broken))
            for task, device in broken:
                if self.attempts[task.id] > self.spec.retries:
                    out.append((task, {"task": task.id, "state": "failed", "error": "its worker process died "
                                       f"{self.attempts[task.id]} times", "attempt": self.attempts[task.id]}))
                    self.free.append(device)
                else:
                    self.submit(task, device)
        return out

    def close(self, abort: bool = False) -> None:
        """Wait for the pool; ``abort`` (Ctrl-C, SIGTERM): stop the running tasks' workers now (they
        resume from their last checkpoint next time) instead of waiting for them."""
        if abort:
            for proc in list((getattr(self.pool, "_processes", None) or {}).values()):
                with contextlib.suppress(OSError, AttributeError):
                    proc.terminate()
        self.pool.shutdown(wait=not abort, cancel_futures=True)


@BACKENDS.register("ray")
class RayBackend(Backend):
    def __init__(self, spec: StudySpec, session: str) -> None:
        # workers on other nodes have another cwd and environment: give them absolute store paths
        spec = dataclasses.replace(spec, store=str(spec.store_path.resolve()), runs_root=str(spec.runs_path.resolve()))
        super().__init__(spec, session)
        try:
            import ray
        except ImportError:
            raise ImportError("the ray backend needs Ray: pip install -e '.[ray]' (or pip install 'ray>=2.9')") from None
        self.ray = ray
        if not ray.is_initialized():
            env = {k: os.environ[k] for k in ("PYTHONPATH", "SUPERNETBENCH_DATA", "SUPERNETBENCH_NB201",
                                              "SUPERNETBENCH_DISABLE_PLUGINS") if k in os.environ}
            if spec.plugins:  # a --plugin module beside the command line: importable in the Ray workers too
                env["PYTHONPATH"] = os.pathsep.join(x for x in (env.get("PYTHONPATH"), os.getcwd()) if x)
            kw: dict[str, Any] = {"address": spec.address} if spec.address else {"num_cpus": spec.workers}
            ray.init(**kw, runtime_env={"env_vars": env} if env else None, log_to_driver=False,
                     include_dashboard=False, ignore_reinit_error=True)
        res = ray.cluster_resources()
        gpu = spec.device != "cpu" and res.get("GPU", 0) >= 1
        self._slots = spec.workers or int(res.get("GPU", 0) if gpu else res.get("CPU", 1))
        self.device = "cuda" if gpu else "cpu"  # Ray sets CUDA_VISIBLE_DEVICES to the task's GPU
        self.remote = ray.remote(num_cpus=1, num_gpus=1 if gpu else 0, max_retries=spec.retries)(execute)
        self.running: dict[Any, Task] = {}

    @property
    def slots(self) -> int:
        return self._slots

    def has_free_slot(self) -> bool:
        return len(self.running) < self._slots

    def submit(self, task: Task) -> None:
        self.running[self.remote.remote(self.spec, task, self.device, 1, self.session)] = task

    def poll(self, timeout: float) -> list[tuple[Task, dict[str, Any]]]:
        if not self.running:
            return []
        ready, _ = self.ray.wait(list(self.running), num_returns=1, timeout=timeout)
        out = []
        for ref in ready:
            task = self.running.pop(ref)
            try:
                out.append((task, self.ray.get(ref)))
            except self.ray.exceptions.RayError as e:  # retries exhausted (worker died each time), or lost
                out.append((task, {"task": task.id, "state": "failed", "error": f"{type(e).__name__}: {e}"[:500]}))
        return out
