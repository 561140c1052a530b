"""The web layer: the human-judging app (studies, judges, results, export) and the transcript
viewer. Needs the ``app`` extra (FastAPI, SQLAlchemy, Alembic, uvicorn); start it with
``oversight serve`` or build it with :func:`oversight.web.app.create_app`."""
