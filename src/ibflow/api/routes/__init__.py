"""The API's routers, one module per resource; each route declares its minimum role where it is defined."""
