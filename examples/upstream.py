"""A toy upstream service: submit a model output, receive its decision as a verified webhook."""
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

from review.client import ReviewClient, verify_webhook

client = ReviewClient(os.environ["REVIEW_URL"], os.environ["REVIEW_KEY"])
PORT = int(os.environ.get("HOOK_PORT", "8765"))


class Webhook(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        event = verify_webhook(self.headers, body, os.environ["REVIEW_WEBHOOK_SECRET"])
        print("decided:", event["item"]["status"], event["item"]["decision"]["output"], flush=True)
        self.send_response(204)
        self.end_headers()


server = HTTPServer(("127.0.0.1", PORT), Webhook)
item = client.submit("demo", "Refunds are sent within 5 days.", 0.97,
                     callback_url=f"http://127.0.0.1:{PORT}/hook")
print("submitted:", item.id, item.status, flush=True)
server.handle_request()  # serve the one webhook, then exit
