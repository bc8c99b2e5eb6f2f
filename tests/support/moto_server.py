"""Runs moto's server for a test process.

Binds a free loopback port, prints it on stdout, and stops when stdin reaches end-of-file, which
happens when the process that started it ends (however it ends), so no server is left behind.

Requests are served one at a time: moto checks DynamoDB conditions and then writes without a
lock, so a threaded server lets two concurrent conditional puts both succeed, which DynamoDB
never does. Serialised, every request is atomic, as the real services' are. (HTTP/1.0, so an
idle keep-alive connection cannot hold the server.)

CloudFormation actions moto lacks are answered as AWS answers an unknown action (see
UnknownCloudFormationActions).
"""
import io
import os
import sys
import threading
from urllib.parse import parse_qs

from moto.cloudformation.responses import CloudFormationResponse
from moto.core.utils import camelcase_to_underscores
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

CLOUDFORMATION_API_VERSION = "2010-05-15"
INVALID_ACTION = (
    '<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">'
    "<Error><Type>Sender</Type><Code>InvalidAction</Code>"
    "<Message>The action {action} is not valid for this web service.</Message></Error>"
    "<RequestId>00000000-moto-unknown-action</RequestId></ErrorResponse>"
)


class UnknownCloudFormationActions:
    """moto answers a CloudFormation action it does not implement (DescribeEvents,
    ListHookResults) with an HTML 500, which the SDK retries as a server fault. AWS answers an
    action an endpoint does not have with 400 `InvalidAction` (the query APIs' common error),
    as an older region does for a newer action: answer that instead, so the bot sees what it
    would see there."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "POST" and environ.get(
            "CONTENT_TYPE", ""
        ).startswith("application/x-www-form-urlencoded"):
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            fields = parse_qs(body.decode("utf-8", "replace"))
            action = fields.get("Action", [""])[0]
            if (
                fields.get("Version", [""])[0] == CLOUDFORMATION_API_VERSION
                and action
                and not hasattr(CloudFormationResponse, camelcase_to_underscores(action))
            ):
                start_response("400 Bad Request", [("Content-Type", "text/xml")])
                return [INVALID_ACTION.format(action=action).encode()]
        return self.app(environ, start_response)


server = make_server(
    "127.0.0.1",
    0,
    UnknownCloudFormationActions(DomainDispatcherApplication(create_backend_app)),
    threaded=False,
)
threading.Thread(target=server.serve_forever, daemon=True).start()
print(server.server_port, flush=True)
sys.stdin.read()
server.shutdown()
os._exit(0)
