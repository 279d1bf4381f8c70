"""sandchat_gateway."""
