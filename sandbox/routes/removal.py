"""Per-bank removal: DeleteCustomerAccountsByInstitutionLogin, DeleteCustomerAccount.

Both answer 204 and then send the Connect `accountsDeleted` event
(`{"accounts": ["<accountId>", ...], "institutionId": "<id>"}`) to the customer's latest Connect
webhook, as Mastercard's Data Connect does.
"""

from __future__ import annotations

from litestar import Request, delete
from litestar.params import FromPath

from sandbox.auth import guard
from sandbox.errors import error
from sandbox.routes.common import get_account, get_customer
from sandbox.state import Customer, SandboxState
from sandbox.webhooks import Deliverer


def _remove(request: Request, state: SandboxState, customer: Customer, account_ids: list[str]) -> None:
    institution_id = customer.accounts[account_ids[0]].institution_id
    for account_id in account_ids:
        del customer.accounts[account_id]
    customer.touch()
    link = customer.latest_link
    if link is not None and link.webhook:
        deliverer: Deliverer = request.app.state.deliverer
        item = deliverer.connect_item(
            link.webhook, customer.id, "accountsDeleted",
            {"accounts": account_ids, "institutionId": institution_id}, link,
        )
        state.spawn(deliverer.send_batch("connect", [item]))


@delete(
    "/aggregation/v1/customers/{customer_id:str}/institutionLogins/{login_id:str}",
    opt={"op": "DeleteCustomerAccountsByInstitutionLogin"},
    status_code=204,
)
async def delete_institution_login(request: Request, customer_id: FromPath[str], login_id: FromPath[str]) -> None:
    state = await guard(request, "accounts")
    customer = get_customer(state, customer_id)
    ids = [a.id for a in customer.accounts.values() if login_id.isdigit() and a.login_id == int(login_id)]
    if not ids:
        raise error(
            404, 38007, f"Customer does not have any accounts associated with institutionLoginId = ({login_id})"
        )
    _remove(request, state, customer, ids)
    customer.logins.pop(int(login_id), None)
    state.logins.pop(int(login_id), None)


@delete(
    "/aggregation/v1/customers/{customer_id:str}/accounts/{account_id:str}",
    opt={"op": "DeleteCustomerAccount"},
    status_code=204,
)
async def delete_account(request: Request, customer_id: FromPath[str], account_id: FromPath[str]) -> None:
    state = await guard(request, "accounts")
    customer = get_customer(state, customer_id)
    acct = get_account(customer, account_id)
    _remove(request, state, customer, [acct.id])
