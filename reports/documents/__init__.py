"""PDF reports: experiment compliance reports, model version dossiers, audit extracts.

- ``models``: ``reports.models.Report`` (one row per generated document).
- ``content``: reads that build each kind's template context and its evidence
  (the same selectors the pages use), plus the ``"reports.dossier"`` slot.
- ``fetcher``: the only URL fetcher WeasyPrint gets: packaged assets, nothing else.
- ``render``: HTML to PDF/A in a child process, under a time limit.
- ``signing``: PAdES signature with pyHanko when a certificate is configured.
- ``services``, ``jobs``: request, generate, download (audited).
"""
