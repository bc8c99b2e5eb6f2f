"""Runs moto's server for a test process.

Binds a free loopback port, prints it on stdout, and stops when stdin reaches end-of-file, which
happens when the test process that started it ends (however it ends), so no server is left behind.
"""
import os
import sys

from moto.server import ThreadedMotoServer

server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
_, port = server.get_host_and_port()
print(port, flush=True)
sys.stdin.read()
server.stop()
os._exit(0)
