#!/bin/sh
# The platform's one-time registrations, made with the auth-server's admin CLI: by the
# platform-bootstrap Job (bootstrap/job.yaml) on Kubernetes, and by the `seed` one-shot of
# docker-compose.yml (which mounts this file). Safe to run again: what exists is kept, and the
# confidential clients are given the secrets of their Secrets (or of .env) again, so a rotated
# secret takes effect when it runs again.
#
#   scopes   api:read, api:write (the demo API's, routes.toml)
#   clients  gateway       introspects tokens for the resource-gateway (GATEWAY_CLIENT_SECRET)
#            demo-service  client_credentials with api:read and api:write, only when
#                          DEMO_SERVICE_CLIENT_SECRET is set (the dev overlay, compose)
#   user     demo          only when DEMO_USER_PASSWORD is set (the dev overlay, compose)
set -eu

: "${GATEWAY_CLIENT_SECRET:?}"

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
        echo "client $id exists; its secret is the one of its Secret"
    else
        printf '%s\n' "$secret" | auth-server clients create --client-id "$id" --secret-stdin "$@" >/dev/null
        echo "client $id created"
    fi
}

scope api:read "Read the demo API"
scope api:write "Change things through the demo API"

client gateway "$GATEWAY_CLIENT_SECRET" \
    --name "Resource gateway" --grant-type client_credentials --introspect

if [ -n "${DEMO_SERVICE_CLIENT_SECRET:-}" ]; then
    client demo-service "$DEMO_SERVICE_CLIENT_SECRET" \
        --name "Demo service" --grant-type client_credentials --scope "api:read api:write" --introspect
fi

if [ -n "${DEMO_USER_PASSWORD:-}" ]; then
    if auth-server users list | cut -f2 | grep -qx demo; then
        echo "user demo exists"
    else
        printf '%s\n' "$DEMO_USER_PASSWORD" | auth-server users create --username demo \
            --email demo@example.test --scope "openid profile email api:read api:write" --password-stdin
    fi
fi
