"""sandchat_api."""
