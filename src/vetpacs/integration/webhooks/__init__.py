"""Webhook subscriptions: domain events POSTed to partner URLs, signed with HMAC-SHA256."""
