"""The sandbox's institution catalogue: FinBank test institutions, with names, URLs and branding.

Connect profiles may name any institution id; one that is not in the catalogue but is used by a
login gets a generated FinBank entry, so every institution the service sees can be looked up.
Unknown ids answer 404, as Mastercard does. Logos are small SVGs the sandbox serves itself.
"""

from __future__ import annotations

from sandbox.state import SandboxState

CATALOGUE: dict[int, dict] = {
    102105: {"name": "FinBank Oauth", "oauth": True, "color": "#0167AE", "statements": True},
    102176: {"name": "FinBank Profiles - A", "oauth": True, "color": "#1B7F3B", "statements": True},
    # Statements only as PDFs by index: its statement details carry no asset id and no period (the spec
    # requires neither), so a client must fall back to GetCustomerAccountStatement.
    102168: {"name": "FinBank Profiles - B", "oauth": False, "color": "#8A2BE2", "statements": True, "assets": False},
    # Not certified for Statement Aggregation: every statement operation answers 404 for its accounts.
    101732: {"name": "FinBank Billable", "oauth": False, "color": "#C0392B", "statements": False},
}


def lookup(state: SandboxState, institution_id: int) -> dict | None:
    entry = CATALOGUE.get(institution_id)
    if entry is not None:
        return entry
    if any(login.institution_id == str(institution_id) for login in state.logins.values()):
        return {"name": f"FinBank {institution_id}", "oauth": False, "color": "#555555", "statements": False}
    return None


def institution_json(institution_id: int, entry: dict) -> dict:
    slug = entry["name"].lower().replace(" ", "").replace("-", "")
    return {
        "id": institution_id,
        "name": entry["name"],
        "transAgg": True,
        "ach": True,
        "stateAgg": entry["statements"],
        "voi": True,
        "voa": True,
        "aha": True,
        "availBalance": True,
        "accountOwner": True,
        "displayName": entry["name"],
        "accountTypeDescription": "Banking",
        "phone": "1-888-555-0100",
        "urlHomeApp": f"https://www.{slug}.example.com",
        "urlLogonApp": f"https://www.{slug}.example.com/login",
        "oauthEnabled": entry["oauth"],
        "urlForgotPassword": f"https://www.{slug}.example.com/forgot",
        "urlOnlineRegistration": f"https://www.{slug}.example.com/signup",
        "class": "banking",
        "address": {"city": "Murray", "state": "UT", "country": "USA", "postalCode": "84123",
                    "addressLine1": "434 W Ascension Way"},
        "currency": "USD",
        "email": "support@finbank.example.com",
        "status": "online",
    }


def branding_json(base_url: str, institution_id: int, entry: dict) -> dict:
    root = f"{base_url.rstrip('/')}/_sandbox/branding/{institution_id}"
    return {
        "logo": f"{root}/logo.svg",
        "alternateLogo": f"{root}/alternateLogo.svg",
        "icon": f"{root}/icon.svg",
        "primaryColor": entry["color"],
        "tile": f"{root}/tile.svg",
    }


def svg(entry: dict, asset: str) -> str:
    width, height = (40, 40) if asset == "icon" else (160, 72) if asset == "tile" else (375, 72)
    fill, text = ("#FFFFFF", entry["color"]) if asset != "alternateLogo" else (entry["color"], "#FFFFFF")
    label = entry["name"][:1] if asset == "icon" else entry["name"]
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
        f'<rect width="100%" height="100%" fill="{fill}"/>'
        f'<text x="50%" y="50%" dominant-baseline="middle" text-anchor="middle" font-family="sans-serif" '
        f'font-size="{min(height // 2, 28)}" fill="{text}">{label}</text></svg>'
    )
