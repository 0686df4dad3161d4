"""HTML pages of the environments app: environments and grants, services and
deployments, containers and logs. They read; changes go through the REST API."""
