# PixelGuard key officer: rotate the transit keys and rewrap what they protect, without seeing plaintext.
# No decrypt on the crosswalk key: rotating keys must not give the power to re-identify.

path "${transit}/keys/${crosswalk_key}/rotate" {
  capabilities = ["update"]
}

path "${transit}/keys/${datakey_key}/rotate" {
  capabilities = ["update"]
}

# Key metadata (latest version), to know which entries still need a rewrap.
path "${transit}/keys/${crosswalk_key}" {
  capabilities = ["read"]
}

path "${transit}/keys/${datakey_key}" {
  capabilities = ["read"]
}

# Rewrap: decrypt and re-encrypt inside the server; the plaintext never leaves it.
path "${transit}/rewrap/${crosswalk_key}" {
  capabilities = ["update"]
}

path "${transit}/rewrap/${datakey_key}" {
  capabilities = ["update"]
}

# Store the rewrapped HMAC data key (check-and-set) so workers unwrap it with the new key version.
path "${kv}/data/${datakey_path}" {
  capabilities = ["read", "create", "update"]
}
