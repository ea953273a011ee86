import json
from decimal import Decimal

import pytest

from service.finicity.models import CreatedCustomer, CustomerAccount, Customers, TransactionPage, Transactions

ACCOUNT = {
    "id": "5011648377",
    "number": "201940541",
    "accountNumberDisplay": "7528",
    "name": "Super Checking",
    "balance": 401.26,
    "type": "checking",
    "aggregationStatusCode": 0,
    "status": "active",
    "customerId": "1005061234",
    "institutionId": "4222",
    "balanceDate": 1607450357,
    "createdDate": 1607450357,
    "lastUpdatedDate": 1607450357,
    "currency": "USD",
    "institutionLoginId": 1007302745,
    "displayPosition": 2,
}


def _decimal_json(text: str) -> object:
    return json.loads(text, parse_float=Decimal)


def test_created_date_may_be_a_string() -> None:
    created = CreatedCustomer.model_validate({"id": "1", "username": "u", "createdDate": "1649244189"})
    assert created.created_date == 1649244189


def test_customers_more_available_may_be_bool_or_string() -> None:
    assert Customers.model_validate(
        {"displaying": 0, "moreAvailable": "true", "customers": []}
    ).more_available
    assert not Customers.model_validate(
        {"displaying": 0, "moreAvailable": False, "customers": []}
    ).more_available


def test_transaction_ids_are_integers_and_amount_is_exact_decimal() -> None:
    page = Transactions.decode(

            b'{"found":1,"displaying":1,"moreAvailable":"false","fromDate":"1704067200","toDate":"1706745600",'
            b'"sort":"asc","transactions":[{"id":21284820852,"amount":-1234.56,"accountId":5011648377,'
            b'"customerId":1005061234,"status":"active","description":"X","createdDate":1706490000,'
            b'"checkNum":1001,"categorization":{"category":"Mobile Phone","normalizedPayeeName":"V",'
            b'"country":"USA"}}]}'

    )
    txn = page.transactions[0]
    assert (txn.id, txn.account_id, txn.finicity_customer_id) == (21284820852, 5011648377, 1005061234)
    assert txn.amount == Decimal("-1234.56") and isinstance(txn.amount, Decimal)
    assert str(txn.amount) == "-1234.56"
    assert page.more_available is False
    assert (page.from_date, page.to_date) == (1704067200, 1706745600)
    assert txn.check_num == "1001"
    assert txn.categorization is not None and txn.categorization.category == "Mobile Phone"


def test_account_balance_is_decimal_and_ids_typed() -> None:
    account = CustomerAccount.model_validate(_decimal_json(json.dumps(ACCOUNT)))
    assert account.balance == Decimal("401.26")
    assert account.institution_login_id == 1007302745
    assert account.id == "5011648377"


def test_account_number_is_masked_and_raw_number_never_kept() -> None:
    account = CustomerAccount.model_validate(ACCOUNT)
    assert account.number_masked == "****0541"
    assert "201940541" not in repr(account)
    assert "201940541" not in account.model_dump_json()
    assert "201940541" not in json.dumps(account.model_dump(mode="json"))
    assert not hasattr(account, "number")


def test_short_account_number_is_fully_masked() -> None:
    assert CustomerAccount.model_validate({**ACCOUNT, "number": "1234"}).number_masked == "****"


def test_numeric_account_id_is_accepted_as_string() -> None:
    assert CustomerAccount.model_validate({**ACCOUNT, "id": 5011648377}).id == "5011648377"


def test_unknown_fields_are_ignored() -> None:
    assert CustomerAccount.model_validate({**ACCOUNT, "somethingNew": {"x": 1}}).id == "5011648377"


def _row(tx_id: int, **changes: object) -> dict[str, object]:
    row: dict[str, object] = {"id": tx_id, "amount": -1.25, "accountId": 7, "customerId": 9, "status": "active",
                              "description": "X", "createdDate": 1}
    row.update(changes)
    return row


def test_a_row_that_does_not_parse_is_rejected_alone_with_its_path_not_its_values() -> None:
    rows = [_row(1), _row(2, status=None), _row(3, amount="12,00 secret-9999"), _row(4)]
    page = TransactionPage.decode(json.dumps({"found": 4, "transactions": rows}).encode())
    assert [t.id for t in page.transactions] == [1, 4]
    assert [(r.id, r.account_id) for r in page.rejected] == [(2, 7), (3, 7)]
    assert "$.status" in page.rejected[0].reason and "$.amount" in page.rejected[1].reason
    assert all("secret-9999" not in r.reason for r in page.rejected)
    assert json.loads(page.rejected[1].raw)["amount"] == "12,00 secret-9999"  # kept whole, for quarantine
    assert page.keys() == [(7, 1), (7, 4), (7, 2), (7, 3)]


def test_a_row_without_a_readable_id_is_rejected_with_no_id() -> None:
    page = TransactionPage.decode(json.dumps({"found": 2, "transactions": [_row(1), "junk"]}).encode())
    assert [t.id for t in page.transactions] == [1]
    assert page.rejected[0].id is None and page.keys() == [(7, 1)]


def test_a_page_whose_envelope_is_wrong_is_an_error_not_a_rejection() -> None:
    with pytest.raises(ValueError):
        TransactionPage.decode(b'{"found": "many", "transactions": []}')
