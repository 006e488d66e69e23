"""``fennec serve``: the ranking service (issue 17; see docs/serve.md).

- :mod:`.settings`: what a server serves and its limits (no web library imported);
- :mod:`.state`: the zoos held in memory, reloaded when another process changes their store,
  swapped atomically after a write (a reloaded engine keeps the proxies it built); a response cache;
- :mod:`.schemas`: the pydantic request and response models (the OpenAPI schema);
- :mod:`.service`: what each endpoint answers, as plain data: it parses a request into the
  :class:`fennec_core.task.request.TaskRequest` the CLI makes too, and serialises the answer;
- :mod:`.errors`: the service's errors and their HTTP statuses;
- :mod:`.app`: the FastAPI application (:func:`fennec_core.serve.app.create_app`), its JSON errors;
- :mod:`.pages`: the web page and the local API docs page (assets in ``static/``, no CDN);
- :mod:`.protocol`: uvicorn's HTTP protocol with ``TCP_NODELAY`` (several workers).

This package imports FastAPI, pydantic and uvicorn (``pip install "fennec[serve]"``); nothing
outside it does, so ``import fennec_core`` and the rest of the CLI stay light.
"""
