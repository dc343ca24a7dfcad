"""The baseline for the ingest ratio: a bare Flask hello world under the same gunicorn settings."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "hello world"
