"""`hare serve`: one FastAPI process with an OpenAI-compatible API, the Gradio chat UI and a choice of engines.

Layout: `server.py` (the command), `config.py` (its settings, imported by the rest, importing none of
it), `app.py` (routes, the tool-calling seam), `openai_schema.py` (request validation and response
bodies), `middleware.py` (error bodies, API key, body limit), `engine.py` (the engine interface),
`batching.py` (the dynamically batching transformers engine), `backends.py` (llama.cpp and vLLM behind
the same interface), `ui.py` (the Gradio page) and `launch.py` (start a server as a subprocess, for
tests and `hare bench serve`).
"""
