"""``pixelguard api``: the HTTP front door (FastAPI, JSON under ``/v1``).

One module per job: ``app.py`` assembles the application, ``routes/`` holds one module per resource,
``uploads.py`` streams a multipart body to disk under limits, ``archives.py`` unpacks a study's zip or tar
refusing bombs and unsafe members, ``runner.py`` runs accepted jobs on the embedded runner, ``errors.py`` is
the one error body every route declares, ``auth.py`` says who is calling (no identity provider yet: the
only mode is an explicit no-auth mode on loopback). The job store is ``pixelguard.jobstore``.
"""
