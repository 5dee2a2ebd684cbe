"""The RQ worker govdash's ``manage.py rqworker`` runs (``RQ["WORKER_CLASS"]``).

RQ forks a work horse for every job. A worker that takes the ``reports``
queue loads the PDF renderer and the signer once, in its main process, before
its first job (``reports.documents.render.preload``): each horse then starts
with WeasyPrint and pyHanko imported and warmed and the signing certificate
opened, instead of spending a second or two on that in every report job.
"""

from __future__ import annotations

from typing import Any

from rq import Worker as RQWorker

REPORT_QUEUE = "reports"


class Worker(RQWorker):
    def work(self, *args: Any, **kwargs: Any) -> bool:
        if REPORT_QUEUE in self.queue_names():
            from reports.documents.render import preload

            preload()
        return bool(super().work(*args, **kwargs))
