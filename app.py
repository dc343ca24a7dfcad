"""Entry point for `flask --app app` and `gunicorn 'app:create_app()'` from a checkout.

The factory itself is `review.factory.create_app`, which an installed wheel serves as
`gunicorn 'review.factory:create_app()'`; this file only names it at the top level.
"""

from review.factory import create_app

__all__ = ["create_app"]
