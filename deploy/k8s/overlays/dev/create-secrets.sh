#!/bin/sh
# Makes the Secrets the dev overlay reads, with fresh random values, in the namespace (created if
# missing). Nothing secret is committed. A Secret that exists is kept (PostgreSQL keeps the
# passwords it was bootstrapped with); --force replaces them all, after which the database and the
# registrations must be made again (`kubectl delete namespace oauth-platform` and apply).
#
#   deploy/k8s/overlays/dev/create-secrets.sh [--force]     # needs kubectl and openssl
#   NAMESPACE=other deploy/k8s/overlays/dev/create-secrets.sh
#
# The Secrets (names and keys are what the manifests read):
#   platform-db-auth-owner, platform-db-auth-service, platform-db-jobs-service,
#   platform-db-email-owner, platform-db-email-service
#                          kubernetes.io/basic-auth: username (the role), password
#   auth-server-keys       encryption-key: base64 of 32 random bytes (AUTH_KEYS__ENCRYPTION_KEY)
#   gateway-client         client-secret: the gateway's introspection client secret
#   gateway-identity-key   signing-key.pem: the gateway's Ed25519 identity key (PKCS#8 PEM)
#   demo-seed              demo-service-client-secret, demo-user-password (bootstrap.sh's demo data)
# CloudNativePG makes platform-db-ca and the RabbitMQ operator platform-mq-default-user.
set -eu

namespace=${NAMESPACE:-oauth-platform}
force=false
case "${1:-}" in
    --force) force=true ;;
    "") ;;
    *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

for tool in kubectl openssl; do
    command -v "$tool" >/dev/null 2>&1 || { echo "$tool is needed" >&2; exit 1; }
done

# 32 random bytes: hex for what goes into a URL or a form (passwords, client secrets: 64
# characters, URL-safe, above the auth-server's 43-character minimum), base64 for the key.
hex() { openssl rand -hex 32; }
key() { head -c 32 /dev/urandom | base64 | tr -d '\n'; }

kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f - >/dev/null

exists() { kubectl -n "$namespace" get secret "$1" >/dev/null 2>&1; }

# apply NAME ARGS...: `kubectl create secret generic NAME ARGS...`, unless it exists.
apply() {
    name=$1
    shift
    if exists "$name" && [ "$force" = false ]; then
        echo "secret/$name exists, kept"
        return
    fi
    kubectl -n "$namespace" create secret generic "$name" "$@" --dry-run=client -o yaml |
        kubectl apply -f -
}

role() { # secret-name role-name
    apply "$1" --type=kubernetes.io/basic-auth --from-literal=username="$2" --from-literal=password="$(hex)"
}

role platform-db-auth-owner auth_owner
role platform-db-auth-service auth_service
role platform-db-jobs-service jobs_service
role platform-db-email-owner email_owner
role platform-db-email-service email_service

apply auth-server-keys --from-literal=encryption-key="$(key)"
apply gateway-client --from-literal=client-secret="$(hex)"

if ! exists gateway-identity-key || [ "$force" = true ]; then
    umask 077
    pem=$(mktemp)
    trap 'rm -f "$pem"' EXIT
    openssl genpkey -algorithm ed25519 -out "$pem"
    apply gateway-identity-key --from-file=signing-key.pem="$pem"
else
    echo "secret/gateway-identity-key exists, kept"
fi

apply demo-seed --from-literal=demo-service-client-secret="$(hex)" \
    --from-literal=demo-user-password="$(hex | cut -c1-20)"

echo "the demo user's password: kubectl -n $namespace get secret demo-seed" \
    "-o jsonpath='{.data.demo-user-password}' | base64 -d"
