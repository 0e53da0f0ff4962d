"""Acme SMS: customers text the business's Acme number; agents answer through Acme's API."""

from acme_sms.connector import AcmeSmsConnector, AcmeSmsSettings

__all__ = ["AcmeSmsConnector", "AcmeSmsSettings"]
