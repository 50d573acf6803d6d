"""Session, account, portfolio and contract bodies in IBKR's wire format (types as in the recorded bodies).

Portfolio numbers are floats (``ledger.timestamp`` in epoch *seconds*, everything else in milliseconds);
``conid`` is a string in ``/iserver/secdef/search`` and an int everywhere else.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from ibflow.brokers.base import AccountSummary, BrokerPosition
from ibflow.brokers.ibkr.simulator.wire.orders import epoch_ms
from ibflow.brokers.paper.market.universe import Instrument

SERVER_INFO = {"serverName": "SimGw00001", "serverVersion": "Build 10.25.0m, ibflow gateway simulator"}
MAC = "F4:03:43:CD:BD:C0"
ETFS = frozenset({"SPY", "QQQ", "IWM", "DIA", "GLD", "TLT", "XLF", "XLE", "XLK", "EEM", "VTI", "VOO", "HYG"})


def auth_status(
    *, authenticated: bool, competing: bool, connected: bool, message: str = ""
) -> dict[str, object]:
    """Return the body of ``/iserver/auth/status`` (and ``ssodh/init``)."""
    return {
        "authenticated": authenticated,
        "competing": competing,
        "connected": connected,
        "message": message,
        "MAC": MAC,
        "hardware_info": f"1c4558e8|{MAC}",
        "fail": "",
        "serverInfo": dict(SERVER_INFO),
    }


def tickle(
    *, session: str, sso_expires_ms: int, user_id: int, status: dict[str, object]
) -> dict[str, object]:
    """Return the body of ``/tickle`` (note IBKR's ``collission`` spelling)."""
    nested = {key: value for key, value in status.items() if key != "fail"}
    return {
        "session": session,
        "ssoExpires": sso_expires_ms,
        "collission": bool(status["competing"]),
        "userId": user_id,
        "hmds": {"error": "no bridge"},
        "iserver": {"authStatus": nested},
    }


def sso_validate(
    *, user_id: int, user_name: str, auth_time: datetime, now: datetime, expires_ms: int
) -> dict[str, object]:
    """Return the body of ``/sso/validate``."""
    return {
        "USER_ID": user_id,
        "USER_NAME": user_name,
        "RESULT": True,
        "AUTH_TIME": epoch_ms(auth_time),
        "EXPIRES": expires_ms,
        "SF_ENABLED": False,
        "IS_FREE_TRIAL": False,
        "CREDENTIAL": user_name,
        "IP": "127.0.0.1",
        "QUALIFIED_FOR_MOBILE_AUTH": None,
        "LANDING_APP": "UNIVERSAL",
        "IS_MASTER": False,
        "lastAccessed": epoch_ms(now),
        "LOGIN_TYPE": 2,
        "PAPER_USER_NAME": user_name,
        "features": {"env": "PROD", "realtime": True, "bond": True},
        "region": "NJ",
    }


def iserver_accounts(account_id: str, session_id: str) -> dict[str, object]:
    """Return the body of ``/iserver/accounts``."""
    return {
        "accounts": [account_id],
        "acctProps": {
            account_id: {
                "hasChildAccounts": False,
                "supportsCashQty": True,
                "noFXConv": False,
                "isProp": False,
                "supportsFractions": False,
                "allowCustomerTime": False,
            }
        },
        "aliases": {account_id: account_id},
        "allowFeatures": {"snapshotRefreshTimeout": 30, "allowedAssetTypes": "STK"},
        "chartPeriods": {"STK": ["*"]},
        "groups": [],
        "profiles": [],
        "selectedAccount": account_id,
        "serverInfo": dict(SERVER_INFO),
        "sessionId": session_id,
        "isFT": False,
        "isPaper": True,
    }


def portfolio_account(account_id: str, opened: datetime) -> dict[str, object]:
    """Return one item of ``/portfolio/accounts``."""
    return {
        "id": account_id,
        "PrepaidCrypto-Z": False,
        "PrepaidCrypto-P": False,
        "brokerageAccess": True,
        "accountId": account_id,
        "accountVan": account_id,
        "accountTitle": "ibflow simulator",
        "displayName": "ibflow simulator",
        "accountAlias": None,
        "accountStatus": epoch_ms(opened),
        "currency": "USD",
        "type": "DEMO",
        "tradingType": "STKNOPT",
        "businessType": "INDEPENDENT",
        "ibEntity": "IBLLC-US",
        "faclient": False,
        "clearingStatus": "O",
        "covestor": False,
        "noClientTrading": False,
        "trackVirtualFXPortfolio": False,
        "parent": {"mmc": [], "accountId": "", "isMParent": False, "isMChild": False, "isMultiplex": False},
        "desc": account_id,
    }


def summary(account: AccountSummary, stock_value: Decimal, now: datetime) -> dict[str, object]:
    """Return ``/portfolio/{acct}/summary``: lower-case metric names, each an amount object."""
    ms = epoch_ms(now)

    def amount(value: Decimal) -> dict[str, object]:
        return {
            "amount": float(value),
            "currency": account.currency,
            "isNull": False,
            "timestamp": ms,
            "value": None,
            "severity": 0,
        }

    def text(value: str) -> dict[str, object]:
        return {
            "amount": 0.0,
            "currency": None,
            "isNull": False,
            "timestamp": ms,
            "value": value,
            "severity": 0,
        }

    body: dict[str, object] = {"accountcode": text(account.account_id), "accounttype": text("INDIVIDUAL")}
    numbers = {
        "netliquidation": account.net_liquidation,
        "totalcashvalue": account.cash,
        "buyingpower": account.buying_power,
        "availablefunds": account.buying_power,
        "excessliquidity": account.buying_power,
        "equitywithloanvalue": account.net_liquidation,
        "grosspositionvalue": stock_value,
        "initmarginreq": Decimal(0),
        "maintmarginreq": Decimal(0),
        "accruedcash": Decimal(0),
        "sma": account.cash,
    }
    for name, value in numbers.items():
        body[name] = amount(value)
        body[f"{name}-s"] = amount(value)
        body[f"{name}-c"] = amount(Decimal(0))
    body["cushion"] = {**amount(Decimal(1)), "currency": None}
    body["daytradesremaining"] = {**amount(Decimal(-1)), "currency": None}
    return body


_LEDGER_ZEROES = (
    "cashbalancefxsegment",
    "commoditymarketvalue",
    "corporatebondsmarketvalue",
    "cryptocurrencyvalue",
    "dividends",
    "funds",
    "futuremarketvalue",
    "futureoptionmarketvalue",
    "futuresonlypnl",
    "interest",
    "issueroptionsmarketvalue",
    "moneyfunds",
    "stockoptionmarketvalue",
    "tbillsmarketvalue",
    "tbondsmarketvalue",
    "warrantsmarketvalue",
    "realizedpnl",
)


def ledger(account: AccountSummary, positions: list[BrokerPosition], now: datetime) -> dict[str, object]:
    """Return ``/portfolio/{acct}/ledger``: one entry per currency and ``BASE`` (timestamp in seconds)."""
    stock = sum((p.market_value for p in positions), Decimal(0))
    unrealized = sum((p.unrealized_pnl for p in positions), Decimal(0))
    realized = sum((p.realized_pnl for p in positions), Decimal(0))

    def entry(currency: str) -> dict[str, object]:
        item: dict[str, object] = dict.fromkeys(_LEDGER_ZEROES, 0.0)
        item.update(
            acctcode=account.account_id,
            cashbalance=float(account.cash),
            settledcash=float(account.cash),
            netliquidationvalue=float(account.net_liquidation),
            stockmarketvalue=float(stock),
            unrealizedpnl=float(unrealized),
            realizedpnl=float(realized),
            currency=currency,
            secondkey=currency,
            key="LedgerList",
            exchangerate=1,
            sessionid=1,
            severity=0,
            timestamp=int(now.timestamp()),
        )
        return item

    usd = entry(account.currency)
    usd["endofbundle"] = 1
    return {"BASE": entry("BASE"), account.currency: usd}


def position(held: BrokerPosition, instrument: Instrument) -> dict[str, object]:
    """Return one item of ``/portfolio/{acct}/positions/{page}``."""
    contract = instrument.contract
    return {
        "acctId": held.account_id,
        "conid": held.conid,
        "contractDesc": contract.symbol,
        "position": float(held.quantity),
        "mktPrice": float(held.market_price),
        "mktValue": float(held.market_value),
        "currency": contract.currency,
        "avgCost": float(held.avg_cost),
        "avgPrice": float(held.avg_cost),
        "realizedPnl": float(held.realized_pnl),
        "unrealizedPnl": float(held.unrealized_pnl),
        "exchs": None,
        "expiry": None,
        "putOrCall": None,
        "multiplier": 0.0,
        "strike": "0",
        "exerciseStyle": None,
        "conExchMap": [],
        "assetClass": contract.sec_type,
        "undConid": 0,
        "model": "",
        "time": 30,
        "pageSize": 100,
        **contract_row(instrument),
    }


def contract_row(instrument: Instrument) -> dict[str, object]:
    """Return the contract fields positions and ``/trsrv/secdef`` share."""
    contract = instrument.contract
    return {
        "allExchanges": f"SMART,{contract.exchange},ARCA,NYSE,ISLAND,BATS,IEX",
        "chineseName": contract.name.upper(),
        "countryCode": "US",
        "displayRule": {
            "displayRuleStep": [{"decimalDigits": 2, "lowerEdge": 0.0, "wholeDigits": 4}],
            "magnification": 0,
        },
        "fullName": contract.symbol,
        "group": None,
        "hasOptions": True,
        "incrementRules": [{"increment": float(contract.min_tick), "lowerEdge": 0.0}],
        "isEventContract": False,
        "isUS": True,
        "lastTradingDay": None,
        "listingExchange": contract.exchange,
        "name": contract.name.upper(),
        "sector": None,
        "sectorGroup": None,
        "ticker": contract.symbol,
        "type": "ETF" if contract.symbol in ETFS else "COMMON",
    }


def secdef(instrument: Instrument) -> dict[str, object]:
    """Return one item of ``/trsrv/secdef``'s ``secdef`` list."""
    contract = instrument.contract
    return {
        "conid": contract.conid,
        "currency": contract.currency,
        "time": 30,
        "assetClass": contract.sec_type,
        "expiry": None,
        "putOrCall": None,
        "strike": "0",
        "undConid": 0,
        "multiplier": 0.0,
        "pageSize": 100,
        **contract_row(instrument),
    }


def search_result(instrument: Instrument) -> dict[str, object]:
    """Return one item of ``/iserver/secdef/search`` (``conid`` as a string)."""
    contract = instrument.contract
    return {
        "conid": str(contract.conid),
        "companyHeader": f"{contract.name.upper()} - {contract.exchange}",
        "companyName": contract.name.upper(),
        "symbol": contract.symbol,
        "description": contract.exchange,
        "restricted": None,
        "fop": None,
        "opt": None,
        "war": None,
        "sections": [{"secType": contract.sec_type}],
    }


def contract_info(instrument: Instrument) -> dict[str, object]:
    """Return ``/iserver/contract/{conid}/info`` (snake_case)."""
    contract = instrument.contract
    return {
        "con_id": contract.conid,
        "symbol": contract.symbol,
        "company_name": contract.name.upper(),
        "instrument_type": contract.sec_type,
        "exchange": "SMART",
        "currency": contract.currency,
        "local_symbol": contract.symbol,
        "trading_class": "NMS" if contract.exchange == "NASDAQ" else contract.symbol,
        "valid_exchanges": f"SMART,{contract.exchange},ARCA,NYSE,ISLAND,BATS,IEX",
        "multiplier": None,
        "r_t_h": True,
        "smart_available": True,
        "underlying_con_id": 0,
        "industry": "Unclassified",
        "category": "Unclassified",
        "cfi_code": "",
        "cusip": None,
        "expiry_full": None,
        "maturity_date": None,
        "contract_month": None,
        "allow_sell_long": False,
        "is_zero_commission_security": False,
        "text": None,
    }


def stocks_entry(instrument: Instrument) -> dict[str, object]:
    """Return one instrument of ``/trsrv/stocks``."""
    contract = instrument.contract
    return {
        "name": contract.name.upper(),
        "chineseName": contract.name.upper(),
        "assetClass": contract.sec_type,
        "contracts": [{"conid": contract.conid, "exchange": contract.exchange, "isUS": True}],
    }
