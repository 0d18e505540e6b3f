"""Mail: the messages Roster sends, and the transports that carry them (MAIL_URL)."""
