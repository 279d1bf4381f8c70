"""sandchat_cli."""
