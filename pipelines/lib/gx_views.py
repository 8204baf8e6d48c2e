"""Data Docs page views that compile GX's Jinja templates once per process.

GX builds a new Jinja ``Environment`` for every page it renders, so every check recompiled the
same ~50 templates: 0.2–0.4 s of each validation's Data Docs, whatever the row count. These views
keep the first environment built for a view class (and its custom template folders) and reuse it;
the pages are the same, byte for byte apart from GX's timestamps. GX imports them by name
(``module_name``/``class_name`` in the site configuration, see ``validation.data_docs_site``).
"""

from __future__ import annotations

import threading

from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView

_ENVIRONMENTS: dict[tuple, object] = {}
_LOCK = threading.Lock()


class _SharedEnvironment:
    """Mixin: reuse the Jinja environment (and its compiled templates) of an earlier instance.

    The environment's filters are bound methods of the instance that built it; they read nothing
    of the instance but the custom template folders, which are part of the cache key.
    """

    def __init__(self, custom_styles_directory=None, custom_views_directory=None) -> None:
        key = (type(self), custom_styles_directory, custom_views_directory)
        with _LOCK:
            shared = _ENVIRONMENTS.get(key)
            if shared is None:
                super().__init__(custom_styles_directory, custom_views_directory)
                _ENVIRONMENTS[key] = self.env
                return
        self.custom_styles_directory = custom_styles_directory
        self.custom_views_directory = custom_views_directory
        self.env = shared


class CachedPageView(_SharedEnvironment, DefaultJinjaPageView):
    """GX's page view (suite and validation pages) on a shared environment."""


class CachedIndexPageView(_SharedEnvironment, DefaultJinjaIndexPageView):
    """GX's index page view on a shared environment."""
