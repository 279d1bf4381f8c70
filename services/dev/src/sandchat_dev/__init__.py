"""The developer's launcher: the whole stack as native processes (`make dev`, `sandchat-dev`)."""
