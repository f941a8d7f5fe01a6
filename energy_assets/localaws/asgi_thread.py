"""The local AWS's name for the project's one uvicorn-in-a-thread server, which lives in
``energy_assets/background.py`` (importable without the local AWS and its moto)."""

from energy_assets.background import ASGIThread, bind_socket, client_host

__all__ = ["ASGIThread", "bind_socket", "client_host"]
