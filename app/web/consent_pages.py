"""The HTML of the consent flow: a login form, the consent form and an error page.

Every value is escaped; the pages load nothing from anywhere (no scripts, no external CSS).
"""

from __future__ import annotations

from html import escape

__all__ = ["consent_page", "error_page", "login_page"]

SCOPE_TEXT = {
    "goods:read": "Read your catalog and inventory",
    "goods:write": "Change your catalog and inventory",
    "trade:read": "Read your orders",
    "trade:write": "Change your orders and issue refunds",
    "logistics:read": "Read your shipments",
    "logistics:write": "Fulfil orders and change shipments",
    "customers:read_pii": "Read your customers' personal data unmasked",
    "billing:usage": "Report billable usage",
    "webhooks": "Subscribe to your shop's events",
    "extensions:shipping_rates": "Provide shipping rates at checkout",
    "extensions:recommendations": "Provide product recommendations",
}


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · Agora</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;"
        "padding:0 1rem}label,button,select,input{display:block;margin:.5rem 0}"
        ".error{color:#a00}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )


def login_page(action: str, csrf: str, client_name: str, error: str | None = None) -> str:
    problem = f"<p class=error role=alert>{escape(error)}</p>" if error else ""
    return _page(
        "Log in",
        f"<p>Log in to review what <strong>{escape(client_name)}</strong> asks for.</p>"
        f"{problem}"
        f'<form method=post action="{escape(action)}">'
        f'<input type=hidden name=csrf_token value="{escape(csrf)}">'
        "<input type=hidden name=action value=login>"
        "<label>Email <input type=email name=email autocomplete=username required></label>"
        "<label>Password <input type=password name=password "
        "autocomplete=current-password required></label>"
        "<button type=submit>Log in</button></form>",
    )


def consent_page(
    action: str, csrf: str, client_name: str, scopes: list[str], shops: list[tuple[int, str]]
) -> str:
    items = "".join(
        f"<li><code>{escape(s)}</code>: {escape(SCOPE_TEXT.get(s, s))}</li>" for s in scopes
    )
    options = "".join(f'<option value="{sid}">{escape(name)}</option>' for sid, name in shops)
    return _page(
        f"Install {client_name}",
        f"<p><strong>{escape(client_name)}</strong> asks to:</p><ul>{items}</ul>"
        f'<form method=post action="{escape(action)}">'
        f'<input type=hidden name=csrf_token value="{escape(csrf)}">'
        f"<label>In shop <select name=shop>{options}</select></label>"
        "<button type=submit name=action value=approve>Approve</button>"
        "<button type=submit name=action value=deny>Deny</button></form>",
    )


def error_page(title: str, message: str) -> str:
    return _page(title, f"<p class=error role=alert>{escape(message)}</p>")
