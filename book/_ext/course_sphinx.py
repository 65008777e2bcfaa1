"""Small Sphinx fixes for the course website (loaded through _config.yml local_extensions).

sphinx-thebe and sphinx-togglebutton register their inline configuration scripts twice (once
with filename ``None``, once with ``""``, so Sphinx does not see them as equal); every page then
declared ``const THEBE_JS_URL`` twice and the browser reported "Identifier 'THEBE_JS_URL' has
already been declared". Dropping duplicate scripts from each page's list removes the error
without touching either package.
"""


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        attributes = getattr(js, "attributes", {}) or {}
        # The same inline script is registered once with filename None and once with "".
        key = (getattr(js, "filename", None) or "", tuple(sorted(attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _drop_duplicate_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
