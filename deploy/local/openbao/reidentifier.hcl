# PixelGuard re-identifier: look up and export crosswalk entries (every use is audited by the tool).

# The one capability a worker lacks: decrypt crosswalk entries.
path "${transit}/decrypt/${crosswalk_key}" {
  capabilities = ["update"]
}

# The HMAC data key, to compute the index tag of the pseudonym being looked up.
path "${transit}/decrypt/${datakey_key}" {
  capabilities = ["update"]
}

path "${kv}/data/${datakey_path}" {
  capabilities = ["read"]
}
