# PixelGuard worker (AppRole login): pseudonymise and write crosswalk entries, never read them back.
# The dollar-brace placeholders are filled by pixelguard.keyservice.vault_setup (mount and key names per deployment).

# Encrypt crosswalk entries; no decrypt on this key, so a stolen worker token cannot re-identify.
path "${transit}/encrypt/${crosswalk_key}" {
  capabilities = ["update"]
}

# Unwrap the HMAC data key once at start (the only thing ever encrypted under this key-encryption key).
path "${transit}/decrypt/${datakey_key}" {
  capabilities = ["update"]
}

# Read the wrapped HMAC data key (a ciphertext: useless without the decrypt above).
path "${kv}/data/${datakey_path}" {
  capabilities = ["read"]
}
