"""The web UI: a single-page app of static files (HTML, CSS, ES modules, SVG), no build step.

`ephemail.api.web` serves the files in `static/`; the app talks to the server only through the
public HTTP API (docs/api.md), so everything it shows is also available to programs.
"""
