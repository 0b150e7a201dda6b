"""The web UI: server-rendered pages (Jinja2, autoescaped) with htmx, served by the API process.

The pages call the same services as ``/v1`` (jobs.accept, review, custom profiles) and the same audit. No
token ever reaches the browser's JavaScript: the UI is a same-origin page whose session (if any) is a
server-side cookie, and URLs carry ids only.
"""
