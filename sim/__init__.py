"""A Kubernetes API simulator: the REST API kubectl and the client speak, and controllers."""
