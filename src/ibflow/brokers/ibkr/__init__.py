"""The IBKR Client Portal Web API client and its gateway simulator (arrive with the IBKR gateway issue)."""
