# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""CPU accounting for one ansible-playbook run, per forked worker (benchmarks/rollout.py --account).

Put this folder on PYTHONPATH and name a log file in HSMOPS_WORKER_RUSAGE. In the
ansible-playbook process only (module runs and other Python processes are left alone) every
worker appends, when it ends, one tab-separated line: its own CPU seconds, the CPU seconds of
what it ran (the module's interpreter and the shell commands around it), the host and the task
name. A forked worker starts with zeroed counters, so these are the worker's alone. At exit the
controller process appends its own CPU as host MAIN.

It wraps WorkerProcess._run, an ansible-core internal: if that is not there, it says so on
stderr and the run goes on unmeasured.
"""

import os
import sys

_LOG = os.environ.get("HSMOPS_WORKER_RUSAGE")

if _LOG and sys.argv and os.path.basename(sys.argv[0]) == "ansible-playbook":
    import atexit
    import resource

    def _cpu(who):
        usage = resource.getrusage(who)
        return usage.ru_utime + usage.ru_stime

    def _write(worker, children, host, task):
        with open(_LOG, "a") as handle:
            handle.write("%.4f\t%.4f\t%s\t%s\n" % (worker, children, host, task.replace("\t", " ").replace("\n", " ")))

    try:
        from ansible.executor.process.worker import WorkerProcess
        _run = WorkerProcess._run
    except (ImportError, AttributeError) as error:
        sys.stderr.write("worker_rusage: cannot account per worker on this ansible-core (%s)\n" % error)
    else:
        def _accounted_run(self):
            try:
                return _run(self)
            finally:
                try:
                    task = self._task.get_name()
                    host = self._host.name
                except Exception:  # pylint: disable=broad-except
                    task, host = "?", "?"
                _write(_cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN), host, task)

        WorkerProcess._run = _accounted_run
        atexit.register(lambda: _write(_cpu(resource.RUSAGE_SELF), 0.0, "MAIN", "MAIN"))
