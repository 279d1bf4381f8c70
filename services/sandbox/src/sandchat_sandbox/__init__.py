"""sandchat-sandbox: the exec service that runs the agent CLI inside the sandbox, for the workers."""
