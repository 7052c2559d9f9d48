"""Drop repeated <script> entries from every page.

A workaround for Sphinx 7.4.7 with sphinx-thebe 0.3.1, the releases jupyter-book 1.0.4.post1
installs (requirements-dev.txt pins both series). sphinx-thebe 0.3.1 adds its inline configuration
script (``const THEBE_JS_URL = ...``) with ``app.add_js_file(None, body=...)`` when documents start
to be read, after the HTML builder exists, so Sphinx lists it on the builder as ``None``. When
writing starts, Sphinx 7.4.7 (``StandaloneHTMLBuilder.prepare_writing``) adds every registered
script again, as ``filename or ''``; ``''`` is not ``None``, so the copy is not recognized and every
page carries the script twice. The browser then reports "Identifier 'THEBE_JS_URL' has already been
declared". Keeping the first copy of each script fixes it.

Delete this file, and its line under ``local_extensions`` in _config.yml, once a release of Sphinx
or sphinx-thebe lists the script once: then tests/test_site.py passes without it (its
``test_thebe_configuration_script_appears_once``, and the browser test, which fails on any
JavaScript error).
"""


def _unique_scripts(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in context.get("script_files", []):
        attributes = getattr(script, "attributes", {})
        # an inline script is registered with filename None or "", so compare what runs
        key = ("body", attributes["body"]) if attributes.get("body") else ("file", str(script))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _unique_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
