"""Request and response bodies of the HTTP layer alone; the domain's own schemas live beside its services."""
