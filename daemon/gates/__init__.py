"""Gates: the agent's rules as code (SK001–SK008), the target's own checks in a sandbox."""
