"""A Client Portal gateway simulator: the paper broker behind IBKR's wire format, quirks and faults.

``ibflow gateway-sim`` serves it; see docs/gateway-simulator.md. The state lives in ``GatewaySimulator``
(``gateway``), the work in the order desk (``desk``) and the market desk (``market``), the bodies in
``wire`` and the HTTP routes in ``routes``; ``app.create_app`` puts them together.
"""
