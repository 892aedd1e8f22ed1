"""Benchmark peer: python-socketio (asyncio, aiohttp) with the benchmark's two handlers.

`message` is echoed to its sender; `tick` is broadcast to every client (sender included).
Usage: PORT=3013 python python_server.py
"""
import os
import sys

import socketio
from aiohttp import web

sio = socketio.AsyncServer(async_mode="aiohttp", logger=False, engineio_logger=False)
app = web.Application()
sio.attach(app)


@sio.on("message")
async def message(sid, data):
    await sio.emit("message", data, to=sid)


@sio.on("tick")
async def tick(sid, data):
    await sio.emit("tick", data)


if __name__ == "__main__":
    port = int(os.environ.get("PORT") or (sys.argv[1] if len(sys.argv) > 1 else 3013))
    print(f"listening on {port}", flush=True)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, backlog=4096)
