"""Key services: who holds the HMAC key and the crosswalk encryption key (local file; Vault transit)."""
