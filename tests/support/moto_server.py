"""Runs moto's server for a test process.

Binds a free loopback port, prints it on stdout, and stops when stdin reaches end-of-file, which
happens when the process that started it ends (however it ends), so no server is left behind.

Requests are served one at a time: moto checks DynamoDB conditions and then writes without a
lock, so a threaded server lets two concurrent conditional puts both succeed, which DynamoDB
never does. Serialised, every request is atomic, as the real services' are. (HTTP/1.0, so an
idle keep-alive connection cannot hold the server.)
"""
import os
import sys
import threading

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

server = make_server(
    "127.0.0.1", 0, DomainDispatcherApplication(create_backend_app), threaded=False
)
threading.Thread(target=server.serve_forever, daemon=True).start()
print(server.server_port, flush=True)
sys.stdin.read()
server.shutdown()
os._exit(0)
