#!/bin/sh
# The compose cluster's demo data, made with the auth-server's admin CLI (the `seed` one-shot of
# docker-compose.yml). Safe to run again: what exists is kept, and the two confidential clients are
# given the secrets of .env again, so a regenerated .env takes effect.
#
#   scopes   api:read, api:write
#   clients  gateway       introspects tokens for the resource-gateway
#            demo-service  client_credentials with api:read and api:write (the README's walkthrough)
#   user     demo          password DEMO_USER_PASSWORD, may grant the standard OpenID scopes and the API's
set -eu

: "${GATEWAY_CLIENT_SECRET:?}" "${DEMO_SERVICE_CLIENT_SECRET:?}" "${DEMO_USER_PASSWORD:?}"

scope() { # name description
    if auth-server scopes list | cut -f1 | grep -qx "$1"; then
        echo "scope $1 exists"
    else
        auth-server scopes create "$1" --description "$2"
    fi
}

client() { # id secret create-arguments...
    id=$1 secret=$2
    shift 2
    if auth-server clients show "$id" >/dev/null 2>&1; then
        printf '%s\n' "$secret" | auth-server clients rotate-secret "$id" --secret-stdin >/dev/null
        echo "client $id exists; its secret is the one in .env"
    else
        printf '%s\n' "$secret" | auth-server clients create --client-id "$id" --secret-stdin "$@" >/dev/null
        echo "client $id created"
    fi
}

scope api:read "Read the demo API"
scope api:write "Change things through the demo API"

client gateway "$GATEWAY_CLIENT_SECRET" \
    --name "Resource gateway" --grant-type client_credentials --introspect
client demo-service "$DEMO_SERVICE_CLIENT_SECRET" \
    --name "Demo service" --grant-type client_credentials --scope "api:read api:write" --introspect

if auth-server users list | cut -f2 | grep -qx demo; then
    echo "user demo exists"
else
    printf '%s\n' "$DEMO_USER_PASSWORD" | auth-server users create --username demo \
        --email demo@example.test --scope "openid profile email api:read api:write" --password-stdin
fi
