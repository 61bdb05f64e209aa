"""stockline: inventory ledger, live stock events and low-stock alerting for kiosk shops."""

__version__ = "0.1.0"
