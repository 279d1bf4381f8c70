"""sandchat."""
