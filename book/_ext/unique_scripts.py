"""Drop repeated <script> entries from every page.

sphinx-thebe registers its inline configuration script while documents are read, and with
Sphinx 7.4 it ends up on every page twice; the second copy re-declares a `const` and the browser
reports "Identifier 'THEBE_JS_URL' has already been declared". Keeping the first copy fixes it.
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
