"""Twilio SMS: customers text the business's Twilio number, agents answer through Twilio's Messages API."""

from connectors.sms.connector import TwilioSmsConnector

__all__ = ["TwilioSmsConnector"]
