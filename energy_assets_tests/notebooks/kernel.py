"""Run code in a kernel of a running Jupyter through its REST and websocket API, as the
browser does (Jupyter messaging protocol 5.3)."""

from __future__ import annotations

import json
import uuid

import httpx
import websocket


def run_in_kernel(base_url: str, token: str, code: str, timeout: float = 90.0) -> str:
    """Start a python3 kernel, execute ``code``, return its stdout; the kernel is shut down."""
    headers = {"Authorization": f"token {token}"}
    kernel = httpx.post(f"{base_url}/api/kernels", json={"name": "python3"}, headers=headers)
    kernel.raise_for_status()
    kernel_id = kernel.json()["id"]
    ws_url = base_url.replace("http://", "ws://") + f"/api/kernels/{kernel_id}/channels"
    socket = websocket.create_connection(
        ws_url, header=[f"Authorization: token {token}"], timeout=timeout
    )
    try:
        msg_id = uuid.uuid4().hex
        socket.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "username": "test",
                        "session": uuid.uuid4().hex,
                        "msg_type": "execute_request",
                        "version": "5.3",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "content": {
                        "code": code,
                        "silent": False,
                        "store_history": False,
                        "user_expressions": {},
                        "allow_stdin": False,
                        "stop_on_error": True,
                    },
                    "channel": "shell",
                    "buffers": [],
                }
            )
        )
        out, error = [], None
        while True:
            message = json.loads(socket.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = message["msg_type"]
            if kind == "stream" and message["content"]["name"] == "stdout":
                out.append(message["content"]["text"])
            elif kind == "error":
                error = f"{message['content']['ename']}: {message['content']['evalue']}"
            elif kind == "execute_reply":
                break
        if error:
            raise AssertionError(f"the kernel raised {error}")
        return "".join(out)
    finally:
        socket.close()
        httpx.delete(f"{base_url}/api/kernels/{kernel_id}", headers=headers)
