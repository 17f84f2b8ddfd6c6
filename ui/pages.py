"""The sign-in page: plain HTML, no script, every piece of text escaped."""

from __future__ import annotations

from labelloop.ui.render import esc

_STYLE = """
body { font-family: system-ui, sans-serif; background: #f4f5f7; margin: 0; }
main { max-width: 22rem; margin: 12vh auto; background: #fff; padding: 2rem;
       border-radius: .6rem; box-shadow: 0 1px 4px rgba(0,0,0,.12); }
h1 { font-size: 1.2rem; margin: 0 0 1rem; }
label { display: block; margin: .8rem 0 .2rem; font-size: .9rem; }
input { width: 100%; box-sizing: border-box; padding: .5rem; font-size: 1rem; }
button { margin-top: 1.2rem; width: 100%; padding: .6rem; font-size: 1rem; cursor: pointer;
         background: #ea580c; color: #fff; border: 0; border-radius: .4rem; }
.error { color: #b91c1c; } .note { color: #92400e; }
"""


def login_html(task: str, error: str = "", note: str = "", name: str = "") -> str:
    """The sign-in form for the console of ``task``."""
    message = ""
    if error:
        message = f'<p class="error" role="alert">{esc(error)}</p>'
    elif note:
        message = f'<p class="note" role="status">{esc(note)}</p>'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · labelloop review</title><style>{_STYLE}</style></head>
<body><main>
<h1>labelloop review · {esc(task)}</h1>{message}
<form method="post" action="/login">
<label for="username">username</label>
<input id="username" name="username" autocomplete="username" required autofocus
 value="{esc(name)}" maxlength="64">
<label for="password">password</label>
<input id="password" name="password" type="password" autocomplete="current-password"
 required maxlength="1024">
<button type="submit">Login</button>
</form></main></body></html>"""
