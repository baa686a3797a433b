# slm-wizard's callback plugin: one JSON object per line on the file descriptor in
# SLM_WIZARD_EVENTS_FD, read by slm-wizard's ansible engine and turned into its RunEvents.
# It is the stdout callback, so ansible-playbook prints nothing else on stdout.
from __future__ import annotations

DOCUMENTATION = '''
    name: slm_wizard_events
    type: stdout
    short_description: JSON lines for slm-wizard
    description: Writes play, task, result and stats events as JSON lines to a pipe.
'''

import gc
import json
import os
import signal

from ansible.playbook.handler import Handler
from ansible.plugins.callback import CallbackBase


def _safe(value):
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return json.loads(json.dumps(value, default=str))


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'stdout'
    CALLBACK_NAME = 'slm_wizard_events'

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        fd = int(os.environ.get('SLM_WIZARD_EVENTS_FD', '3'))
        self._out = os.fdopen(fd, 'w', buffering=1, encoding='utf-8', closefd=False)
        # SIGINT (slm-wizard's first cancel) stops ansible after the tasks running now: no new
        # task starts. A second SIGINT is ansible's own interrupt.
        self._inflight = 0
        self._stop = False
        self._ansible_sigint = signal.getsignal(signal.SIGINT)
        try:
            signal.signal(signal.SIGINT, self._on_sigint)
        except ValueError:
            pass

    def _tqm(self):
        from ansible.executor.task_queue_manager import TaskQueueManager
        for o in gc.get_objects():
            if isinstance(o, TaskQueueManager):
                return o
        return None

    def _stop_if_idle(self):
        if self._stop and self._inflight <= 0:
            tqm = self._tqm()
            if tqm is not None:
                tqm.terminate()

    def _on_sigint(self, signum, frame):
        if self._stop and callable(self._ansible_sigint):
            return self._ansible_sigint(signum, frame)
        self._stop = True
        self._emit(event='cancel')
        self._stop_if_idle()

    def _emit(self, **ev):
        try:
            self._out.write(json.dumps(_safe(ev)) + '\n')
            self._out.flush()
        except (BrokenPipeError, OSError):
            pass

    def _task(self, task):
        return {
            'uuid': task._uuid,
            'task': task.get_name().strip(),
            'action': task.action,
        }

    def v2_playbook_on_start(self, playbook):
        self._emit(event='playbook_start', playbook=getattr(playbook, '_file_name', ''))

    def v2_playbook_on_play_start(self, play):
        hosts = []
        tasks = 0
        try:
            inv = play.get_variable_manager()._inventory
            hosts = [h.get_name() for h in inv.get_hosts(play.hosts)]
        except Exception:
            pass
        try:
            def count(blocks):
                n = 0
                for b in blocks:
                    for t in getattr(b, 'block', None) or []:
                        if hasattr(t, 'block'):
                            n += count([t])
                        elif not getattr(t, 'implicit', False):
                            n += 1
                return n
            tasks = count(play.pre_tasks + play.tasks + play.post_tasks)
            for role in play.get_roles():
                tasks += count(role.compile(play=play))
        except Exception:
            pass
        self._emit(event='play_start', play=play.get_name().strip(), hosts=hosts, tasks=tasks)

    def v2_runner_on_start(self, host, task):
        self._inflight += 1
        self._emit(event='task_start', host=host.get_name(), handler=isinstance(task, Handler),
                   **self._task(task))

    def _result(self, status, result, item=None, ignored=False, is_item=False):
        if not is_item:
            self._inflight -= 1
        res = result._result if isinstance(result._result, dict) else {}
        host = result._host.get_name()
        delegated = res.get('_ansible_delegated_vars') or {}
        ev = dict(event='result', status=status, host=host, **self._task(result._task))
        if delegated.get('ansible_host'):
            ev['delegated'] = delegated.get('ansible_delegated_host') or delegated.get('ansible_host')
        ev['no_log'] = bool(res.get('_ansible_no_log'))
        if is_item:
            # As ansible's own output: the item of a no_log result is not shown either.
            ev['item'] = '(hidden)' if ev['no_log'] else item
        ev['ignored'] = bool(ignored) and status == 'failed'
        ev['res'] = {k: v for k, v in res.items() if not k.startswith('_ansible') and k != 'invocation'}
        self._emit(**ev)
        if not is_item:
            self._stop_if_idle()

    def _status(self, result, default):
        res = result._result if isinstance(result._result, dict) else {}
        if default == 'ok' and res.get('changed'):
            return 'changed'
        return default

    def v2_runner_on_ok(self, result):
        self._result(self._status(result, 'ok'), result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result('failed', result, ignored=ignore_errors)

    def v2_runner_on_skipped(self, result):
        self._result('skipped', result)

    def v2_runner_on_unreachable(self, result):
        self._result('unreachable', result)

    def _item(self, result):
        res = result._result if isinstance(result._result, dict) else {}
        label = res.get('_ansible_item_label', res.get('item'))
        return _safe(label)

    def v2_runner_item_on_ok(self, result):
        self._result(self._status(result, 'ok'), result, self._item(result), is_item=True)

    def v2_runner_item_on_failed(self, result):
        self._result('failed', result, self._item(result), is_item=True,
                     ignored=bool(getattr(result._task, 'ignore_errors', False)))

    def v2_runner_item_on_skipped(self, result):
        self._result('skipped', result, self._item(result), is_item=True)

    def v2_playbook_on_no_hosts_matched(self):
        self._emit(event='warning', msg='no hosts matched')

    def v2_playbook_on_stats(self, stats):
        hosts = {}
        for h in sorted(stats.processed.keys()):
            s = stats.summarize(h)
            hosts[h] = {
                'ok': s.get('ok', 0), 'changed': s.get('changed', 0),
                'failed': s.get('failures', 0), 'skipped': s.get('skipped', 0),
                'unreachable': s.get('unreachable', 0), 'rescued': s.get('rescued', 0),
                'ignored': s.get('ignored', 0),
            }
        self._emit(event='stats', hosts=hosts)
