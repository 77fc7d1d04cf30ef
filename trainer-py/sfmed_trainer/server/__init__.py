"""The pieces of the OpenAI-compatible server (serve.py): api, scheduler, engine, access, http, routes."""
