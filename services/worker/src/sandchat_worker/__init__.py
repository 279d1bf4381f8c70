"""sandchat_worker."""
