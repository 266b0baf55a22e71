"""Runtime pieces shared by the services: registry, update layout, transport helpers, logging."""
